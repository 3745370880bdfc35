package rest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// csvToJSON turns a CSV body (header row of column names, "NULL" for
// null, every other value a string PostgreSQL casts) into a JSON array.
func csvToJSON(body []byte) ([]byte, []string, error) {
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = 0
	recs, err := rd.ReadAll()
	if err != nil || len(recs) == 0 {
		msg := "All lines must have same number of fields"
		if len(recs) == 0 && err == nil {
			msg = "Empty or invalid json"
		}
		return nil, nil, restErr(http.StatusBadRequest, "PGRST102", msg, nil, nil)
	}
	cols := recs[0]
	rows := make([]map[string]any, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			if rec[i] == "NULL" {
				row[c] = nil
			} else {
				row[c] = rec[i]
			}
		}
		rows = append(rows, row)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return nil, nil, err
	}
	return b, cols, nil
}

// formToJSON turns an urlencoded body into one JSON object of strings.
func formToJSON(body []byte) ([]byte, []string, error) {
	var cols []string
	obj := map[string]string{}
	for part := range strings.SplitSeq(string(body), "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, nil, restErr(http.StatusBadRequest, "PGRST102", "Empty or invalid json", nil, nil)
		}
		if _, dup := obj[k]; !dup {
			cols = append(cols, k)
		}
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, err
	}
	if cols == nil {
		cols = []string{}
	}
	return b, cols, nil
}

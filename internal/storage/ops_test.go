package storage_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

type entry struct {
	Name     string          `json:"name"`
	ID       *string         `json:"id"`
	Metadata json.RawMessage `json:"metadata"`
}

func names(t *testing.T, body []byte) string {
	t.Helper()
	var es []entry
	if err := json.Unmarshal(body, &es); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for _, e := range es {
		n := e.Name
		if e.ID == nil {
			n += "/"
			if string(e.Metadata) != "null" {
				t.Errorf("folder %s has metadata %s", e.Name, e.Metadata)
			}
		}
		out = append(out, n)
	}
	return strings.Join(out, ",")
}

func namesAre(want string) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		if got := names(t, body); got != want {
			t.Errorf("names %q, want %q", got, want)
		}
	}
}

func TestListMoveCopyRemove(t *testing.T) {
	t.Parallel()
	eachBackend(t, testListMoveCopyRemove)
}

func testListMoveCopyRemove(t *testing.T, f *fixture) {
	a := f.aliceID
	alice, bob := f.as(f.alice), f.as(f.bob)
	for _, n := range []string{"Cat.txt", "apple.txt", "docs/x.txt", "docs/y.txt", "docs/deep/z.txt", "pics/p.png"} {
		f.mustDo("POST", "/storage/v1/object/private/"+a+"/"+n, f.as(f.alice, "Content-Type", "text/plain"), "data of "+n, 200)
	}
	list := func(body string) string { return body }
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "list folder", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body:           list(`{"limit":100,"offset":0,"sortBy":{"column":"name","order":"asc"},"prefix":"` + a + `"}`),
			ExpectedStatus: 200, Check: namesAre("apple.txt,Cat.txt,docs/,pics/")},
		{Name: "list root shows the user folder", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":""}`, ExpectedStatus: 200, Check: namesAre(a + "/")},
		{Name: "list sub-folder with trailing slash", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":"` + a + `/docs/"}`, ExpectedStatus: 200, Check: namesAre("deep/,x.txt,y.txt")},
		{Name: "search is a case-insensitive prefix", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":"` + a + `","search":"ca"}`, ExpectedStatus: 200, Check: namesAre("Cat.txt")},
		{Name: "limit and offset, desc", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":"` + a + `","limit":2,"offset":1,"sortBy":{"column":"name","order":"desc"}}`, ExpectedStatus: 200, Check: namesAre("docs/,Cat.txt")},
		{Name: "other sorts put folders first", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":"` + a + `","sortBy":{"column":"created_at","order":"asc"}}`, ExpectedStatus: 200, Check: namesAre("docs/,pics/,Cat.txt,apple.txt")},
		{Name: "entries carry metadata", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":"` + a + `","search":"apple"}`, ExpectedStatus: 200,
			ExpectedContent: []string{`"eTag":"\"`, `"size":17`, `"mimetype":"text/plain"`, `"httpStatusCode":200`, `"last_accessed_at":"`}},
		{Name: "bob sees nothing", Method: "POST", Path: "/storage/v1/object/list/private", Headers: bob,
			Body: `{"prefix":"` + a + `"}`, ExpectedStatus: 200, Check: bodyIs("[]")},
		{Name: "bad sort column", Method: "POST", Path: "/storage/v1/object/list/private", Headers: alice,
			Body: `{"prefix":"","sortBy":{"column":"size; drop table x"}}`, Check: errCheck(400, "400", "InvalidRequest")},
	})

	// list-v2 pages with an opaque cursor until hasNext is false.
	var got []string
	cursor := ""
	for i := 0; i < 10; i++ {
		body := map[string]any{"prefix": a + "/", "limit": 2, "with_delimiter": true}
		if cursor != "" {
			body["cursor"] = cursor
		}
		res, b := f.do("POST", "/storage/v1/object/list-v2/private", alice, body)
		if res.StatusCode != 200 {
			t.Fatalf("list-v2: %d %s", res.StatusCode, b)
		}
		var page struct {
			HasNext    bool   `json:"hasNext"`
			NextCursor string `json:"nextCursor"`
			Folders    []struct{ Name, Key string }
			Objects    []struct{ Name string }
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, fo := range page.Folders {
			got = append(got, fo.Name)
		}
		for _, o := range page.Objects {
			got = append(got, o.Name)
		}
		if !page.HasNext {
			break
		}
		cursor = page.NextCursor
	}
	want := a + "/apple.txt," + a + "/Cat.txt," + a + "/docs/," + a + "/pics/"
	if strings.Join(got, ",") != want {
		t.Errorf("list-v2 paged %v, want %s", got, want)
	}
	res, b := f.do("POST", "/storage/v1/object/list-v2/private", alice, map[string]any{"prefix": a + "/docs/"})
	if res.StatusCode != 200 || !strings.Contains(string(b), `"name":"`+a+`/docs/deep/z.txt"`) {
		t.Errorf("list-v2 without delimiter: %d %s", res.StatusCode, b)
	}

	// Move needs an UPDATE policy: without one the source is "not found".
	mv := func(src, dst string) map[string]any {
		return map[string]any{"bucketId": "private", "sourceKey": a + "/" + src, "destinationKey": a + "/" + dst}
	}
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "move without an UPDATE policy", Method: "POST", Path: "/storage/v1/object/move", Headers: alice, Body: mv("apple.txt", "pear.txt"), Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "copy", Method: "POST", Path: "/storage/v1/object/copy", Headers: alice, Body: mv("apple.txt", "apple-copy.txt"), ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"Key": "private/" + a + "/apple-copy.txt", "name": a + "/apple-copy.txt", "bucket_id": "private", "owner_id": a}},
		{Name: "copy reads the same bytes", Method: "GET", Path: "/storage/v1/object/private/" + a + "/apple-copy.txt", Headers: alice, ExpectedStatus: 200, Check: bodyIs("data of apple.txt")},
		{Name: "copy onto an existing key", Method: "POST", Path: "/storage/v1/object/copy", Headers: alice, Body: mv("apple.txt", "Cat.txt"), Check: errCheck(400, "409", "KeyAlreadyExists")},
		{Name: "copy into bob's folder", Method: "POST", Path: "/storage/v1/object/copy", Headers: alice,
			Body: map[string]any{"bucketId": "private", "sourceKey": a + "/apple.txt", "destinationKey": f.bobID + "/stolen.txt"}, Check: errCheck(400, "403", "AccessDenied")},
		{Name: "copy of an invisible source", Method: "POST", Path: "/storage/v1/object/copy", Headers: bob,
			Body: map[string]any{"bucketId": "private", "sourceKey": a + "/apple.txt", "destinationKey": f.bobID + "/stolen.txt"}, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "copy across buckets", Method: "POST", Path: "/storage/v1/object/copy", Headers: f.service(),
			Body: map[string]any{"bucketId": "private", "sourceKey": a + "/apple.txt", "destinationKey": "shared/apple.txt", "destinationBucket": "public"}, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"Key": "public/shared/apple.txt"}},
		{Name: "cross-bucket copy is public", Method: "GET", Path: "/storage/v1/object/public/public/shared/apple.txt", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref}, ExpectedStatus: 200, Check: bodyIs("data of apple.txt")},
	})
	f.sql(`create policy own_update on storage.objects for update to authenticated
		using ((storage.foldername(name))[1] = auth.uid()::text) with check ((storage.foldername(name))[1] = auth.uid()::text)`)
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "move", Method: "POST", Path: "/storage/v1/object/move", Headers: alice, Body: mv("apple.txt", "fruit/pear.txt"), ExpectedStatus: 200, ExpectedJSON: map[string]any{"message": "Successfully moved"}},
		{Name: "moved bytes", Method: "GET", Path: "/storage/v1/object/private/" + a + "/fruit/pear.txt", Headers: alice, ExpectedStatus: 200, Check: bodyIs("data of apple.txt")},
		{Name: "old name gone", Method: "GET", Path: "/storage/v1/object/private/" + a + "/apple.txt", Headers: alice, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "move onto existing", Method: "POST", Path: "/storage/v1/object/move", Headers: alice, Body: mv("Cat.txt", "fruit/pear.txt"), Check: errCheck(400, "409", "ResourceAlreadyExists")},
		{Name: "move out of own folder", Method: "POST", Path: "/storage/v1/object/move", Headers: alice,
			Body: map[string]any{"bucketId": "private", "sourceKey": a + "/Cat.txt", "destinationKey": f.bobID + "/Cat.txt"}, Check: errCheck(400, "403", "AccessDenied")},
		{Name: "move across buckets", Method: "POST", Path: "/storage/v1/object/move", Headers: f.service(),
			Body: map[string]any{"bucketId": "private", "sourceKey": a + "/pics/p.png", "destinationKey": "p.png", "destinationBucket": "public"}, ExpectedStatus: 200},
		{Name: "moved across", Method: "GET", Path: "/storage/v1/object/public/public/p.png", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref}, ExpectedStatus: 200, Check: bodyIs("data of pics/p.png")},
		{Name: "move to an unknown bucket", Method: "POST", Path: "/storage/v1/object/move", Headers: f.service(),
			Body: map[string]any{"bucketId": "private", "sourceKey": a + "/Cat.txt", "destinationKey": "x", "destinationBucket": "nope"}, Check: errCheck(400, "404", "NoSuchBucket")},
	})
	f.noOrphans(t)

	// Remove deletes exact names the caller may delete, skipping the rest.
	f.mustDo("POST", "/storage/v1/object/private/"+f.bobID+"/keep.txt", f.as(f.bob, "Content-Type", "text/plain"), "bob's", 200)
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "remove", Method: "DELETE", Path: "/storage/v1/object/private", Headers: alice,
			Body: map[string]any{"prefixes": []string{a + "/Cat.txt", a + "/docs", f.bobID + "/keep.txt", a + "/none"}}, ExpectedStatus: 200,
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				var rows []map[string]any
				if err := json.Unmarshal(body, &rows); err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 || rows[0]["name"] != a+"/Cat.txt" || rows[0]["bucket_id"] != "private" {
					t.Errorf("removed %s", body)
				}
			}},
		{Name: "bob's file stays", Method: "GET", Path: "/storage/v1/object/private/" + f.bobID + "/keep.txt", Headers: bob, ExpectedStatus: 200},
		{Name: "remove nothing", Method: "DELETE", Path: "/storage/v1/object/private", Headers: bob, Body: map[string]any{"prefixes": []string{a + "/docs/x.txt"}}, ExpectedStatus: 200, Check: bodyIs("[]")},
		{Name: "single delete", Method: "DELETE", Path: "/storage/v1/object/private/" + a + "/docs/x.txt", Headers: alice, ExpectedStatus: 200, ExpectedJSON: map[string]any{"message": "Successfully deleted"}},
		{Name: "single delete missing", Method: "DELETE", Path: "/storage/v1/object/private/" + a + "/docs/x.txt", Headers: alice, Check: errCheck(400, "404", "NoSuchKey")},
	})
	f.noOrphans(t)
}

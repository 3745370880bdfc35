package rest

import (
	"strings"

	"github.com/madbase/madbase/internal/control"
)

// Settings is a project's "rest" settings section.
type Settings struct {
	// Schemas are the exposed schemas; the first is the default profile.
	Schemas []string `json:"schemas"`
	// MaxRows caps every read node; nil means Supabase's default of 1000,
	// 0 means no cap.
	MaxRows *int64 `json:"max_rows"`
	// PreRequest names a function ("fn" or "schema.fn") called before every
	// request's main statement, in the same transaction.
	PreRequest string `json:"pre_request"`
	// PlanEnabled allows Accept: application/vnd.pgrst.plan.
	PlanEnabled bool `json:"plan_enabled"`
	// ReloadOnDDL installs an event trigger that sends NOTIFY pgrst on DDL.
	ReloadOnDDL bool `json:"reload_on_ddl"`
	// AggregatesEnabled allows count()/sum()/... in select (PGRST123 otherwise).
	AggregatesEnabled bool `json:"aggregates_enabled"`
	// TxEnd is PostgREST's db-tx-end: commit, commit-allow-override
	// (default: Prefer tx=rollback is honoured), rollback,
	// rollback-allow-override.
	TxEnd string `json:"tx_end"`
	// ExtraSearchPath follows the profile schema in search_path
	// (default public, extensions).
	ExtraSearchPath []string `json:"extra_search_path"`

	// searchPaths is searchPath of each exposed schema, made once.
	searchPaths map[string]string
}

const defaultMaxRows = 1000

func loadSettings(p *control.Project) (Settings, error) {
	var s Settings
	if err := p.Section("rest", &s); err != nil {
		return Settings{}, err
	}
	var schemas []string
	for _, n := range s.Schemas {
		if n = strings.TrimSpace(n); n != "" {
			schemas = append(schemas, n)
		}
	}
	if len(schemas) == 0 {
		schemas = []string{"public"}
	}
	s.Schemas = schemas
	if s.ExtraSearchPath == nil {
		s.ExtraSearchPath = []string{"public", "extensions"}
	}
	if s.TxEnd == "" {
		s.TxEnd = "commit-allow-override"
	}
	s.searchPaths = make(map[string]string, len(s.Schemas))
	for _, n := range s.Schemas {
		s.searchPaths[n] = s.makeSearchPath(n)
	}
	return s, nil
}

func (s *Settings) maxRows() int64 {
	if s.MaxRows == nil {
		return defaultMaxRows
	}
	if *s.MaxRows < 0 {
		return 0
	}
	return *s.MaxRows
}

// rollback decides whether the transaction ends in ROLLBACK, and whether
// the client's tx preference was honoured (for Preference-Applied).
func (s *Settings) rollback(pref string) (rollback, applied bool) {
	switch s.TxEnd {
	case "rollback":
		return true, false
	case "rollback-allow-override":
		if pref == "commit" {
			return false, true
		}
		return true, pref == "rollback"
	case "commit-allow-override":
		if pref == "rollback" {
			return true, true
		}
		return false, pref == "commit"
	}
	return false, false
}

// searchPath renders the search_path GUC PostgREST sets: the profile
// schema, then the extra ones, each quoted, joined by ", ".
func (s *Settings) searchPath(profile string) string {
	if p, ok := s.searchPaths[profile]; ok {
		return p
	}
	return s.makeSearchPath(profile)
}

func (s *Settings) makeSearchPath(profile string) string {
	parts := []string{quoteIdent(profile)}
	for _, e := range s.ExtraSearchPath {
		parts = append(parts, quoteIdent(e))
	}
	return strings.Join(parts, ", ")
}

func quoteIdent(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

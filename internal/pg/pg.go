package pg

import (
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Ident quotes one or more name parts as a (qualified) SQL identifier.
func Ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// Code returns the SQLSTATE of err, or "" when err did not come from the server.
func Code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// statusByCode is PostgREST's SQLSTATE → HTTP mapping (its mapSQLtoHTTP;
// compat/rest.md §5.3), the one table every surface shares. Class defaults
// are in statusByClass.
var statusByCode = map[string]int{
	"23503": http.StatusConflict,            // foreign_key_violation
	"23505": http.StatusConflict,            // unique_violation
	"25006": http.StatusMethodNotAllowed,    // read_only_sql_transaction
	"21000": http.StatusBadRequest,          // cardinality / pg-safeupdate's "requires a WHERE clause"
	"42883": http.StatusNotFound,            // undefined_function
	"42P01": http.StatusNotFound,            // undefined_table
	"42P17": http.StatusInternalServerError, // infinite recursion (RLS)
	"42501": http.StatusForbidden,           // insufficient_privilege (401 for anon, decided by caller)
	"53400": http.StatusInternalServerError, // configuration_limit_exceeded
	"57P01": http.StatusServiceUnavailable,  // admin_shutdown
	"P0001": http.StatusBadRequest,          // raise_exception
}

// statusByClass is the fallback by the SQLSTATE's class; anything in no
// class listed here is a 400, as PostgREST answers.
var statusByClass = map[string]int{
	"08": http.StatusServiceUnavailable, // connection exception
	"09": http.StatusInternalServerError,
	"0L": http.StatusForbidden,
	"0P": http.StatusForbidden,
	"25": http.StatusInternalServerError,
	"28": http.StatusForbidden,
	"2D": http.StatusInternalServerError,
	"38": http.StatusInternalServerError,
	"39": http.StatusInternalServerError,
	"3B": http.StatusInternalServerError,
	"40": http.StatusInternalServerError,
	"53": http.StatusServiceUnavailable,
	"54": http.StatusInternalServerError,
	"55": http.StatusInternalServerError,
	"57": http.StatusInternalServerError,
	"58": http.StatusInternalServerError,
	"F0": http.StatusInternalServerError,
	"HV": http.StatusInternalServerError,
	"P0": http.StatusInternalServerError,
	"XX": http.StatusInternalServerError,
}

// Status maps a SQLSTATE to the HTTP status PostgREST would answer.
func Status(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	if len(code) != 5 {
		return http.StatusInternalServerError // not a server error at all
	}
	if s, ok := statusByClass[code[:2]]; ok {
		return s
	}
	return http.StatusBadRequest
}

// IsUserFacing reports whether err is a database error whose message is
// about the user's own data or SQL (constraint, bad value, raised
// exception), and so may be shown; anything else must stay in the log.
func IsUserFacing(err error) bool {
	c := Code(err)
	return c != "" && Status(c) < 500
}

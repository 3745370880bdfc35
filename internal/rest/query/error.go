package query

import "fmt"

// Error is a PostgREST-dialect error: the handler renders Code, Details, Hint
// and Message as the JSON body and Status as the HTTP status. Details and Hint
// are nil when absent (rendered as JSON null); Details may be a string or a
// structured value (PGRST201 lists candidate relationships).
type Error struct {
	Status  int
	Code    string
	Message string
	Details any
	Hint    any
}

func (e *Error) Error() string {
	if d, ok := e.Details.(string); ok && d != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Message, d)
	}
	return e.Code + ": " + e.Message
}

// parseError builds the PGRST100 error PostgREST reports for a query-string
// grammar violation: the message names the parameter, its text and the
// position; details say what was found and what was expected.
func parseError(what, input string, col int, details string) *Error {
	return &Error{
		Status:  400,
		Code:    "PGRST100",
		Message: fmt.Sprintf("%q (line 1, column %d)", "failed to parse "+what+" ("+input+")", col),
		Details: details,
	}
}

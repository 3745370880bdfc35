package mail

import (
	"net/url"
	"strings"
)

// ConfirmationURL builds the link GoTrue puts in its emails:
// <apiURL>/verify?token=<token>&type=<typ>&redirect_to=<redirectTo>, where
// apiURL is the project's auth base (".../auth/v1"). As GoTrue does,
// redirectTo is query-escaped only when it holds '&', '=' or '#' (which
// would otherwise change the outer query) and omitted when empty.
func ConfirmationURL(apiURL, token, typ, redirectTo string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(apiURL, "/"))
	b.WriteString("/verify?token=")
	b.WriteString(url.QueryEscape(token))
	b.WriteString("&type=")
	b.WriteString(url.QueryEscape(typ))
	if redirectTo != "" {
		b.WriteString("&redirect_to=")
		if strings.ContainsAny(redirectTo, "&=#") {
			redirectTo = url.QueryEscape(redirectTo)
		}
		b.WriteString(redirectTo)
	}
	return b.String()
}

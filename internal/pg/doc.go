// Package pg holds small pgx helpers shared by the control plane and every
// surface: identifier quoting, SQLSTATE classification and pool options.
// It imports pgx and the standard library only.
package pg

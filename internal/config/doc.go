// Package config turns the process environment into a validated, typed
// Config once, in main. Parsing is a pure function of a map so tests never
// touch the real environment. It imports only the standard library.
package config

// Package archtest fails the build's tests when a package imports what
// DESIGN.md §1 forbids, so the architecture described there stays true.
package archtest

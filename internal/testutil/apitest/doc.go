// Package apitest runs HTTP scenarios through the real server handler, as
// PocketBase's ApiScenario does: each scenario is a request and the checks
// on its answer. Env builds a whole MadBase (control plane and tenant
// databases on a pgtest cluster) so surface tests exercise every layer.
//
// Test-only; it may import anything but must never be imported by non-test code.
package apitest

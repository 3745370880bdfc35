// Package httpx is the HTTP plumbing every surface shares: handlers that
// return errors, the one Error type, middleware (request id, recover,
// logging, metrics hooks, CORS, body limits) and JSON helpers.
//
// It renders no product dialect: each surface passes its own Renderer, so
// GoTrue, PostgREST, Storage and admin clients each see the error shape they
// parse. It may import only the standard library.
package httpx

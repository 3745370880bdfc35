// Package functions is the /functions/v1 surface: Supabase-compatible edge
// functions that are WebAssembly (WASI preview1 command) modules run by
// internal/functions/runtime, plus their admin endpoints under
// /admin/v1/projects/{ref}/functions.
//
// # Deploy
//
// PUT …/functions/{name} takes the raw module (application/wasm) or a
// multipart body with a "module" part and a JSON "manifest" part (Manifest:
// verify_jwt, env, limits, allow_hosts, inject_db_url). The module must
// compile and export _start, or the deploy is refused with the reason. Each
// deploy is a new version (control.function_versions); the function row
// names the version served, so rollback is one update. Module bytes are kept
// once per SHA-256 in the control database (the source of truth, so any node
// can serve any function) and cached by each node under
// MADBASE_DATA_DIR/functions/<sha256>.wasm; wazero's compilation cache is
// MADBASE_DATA_DIR/functions/cache. Deleting a project deletes its functions
// (foreign keys), and modules no version uses any more are removed.
//
// # Invoke
//
// /functions/v1/<name>/… resolves the project (tenant.Manager.Resolve; no
// apikey is required at the gateway, as on Supabase), loads the function's
// active version (cached, invalidated on change), applies verify_jwt
// (default on: a project JWT or sb_ key in Authorization, else a project key
// in apikey), and runs a fresh instance of the compiled module, which is
// kept in an LRU keyed by SHA-256: compiled at deploy, or once after a
// restart, never per request. The function sees the path as /<name>/… with
// the query, every header as HTTP_*, and in its environment SUPABASE_URL,
// SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_PUBLISHABLE_KEYS,
// SUPABASE_SECRET_KEYS, the project's secrets, the manifest's env,
// SUPABASE_DB_URL if the manifest asks, and JWT_CLAIMS (the verified claims
// as JSON) when verify_jwt checked the caller.
//
// Failures outside the function answer as Supabase's gateway does:
// {"code","message"} with an sb-error-code header (401 with code 401 for JWT
// failures, 404 NOT_FOUND, 500 WORKER_ERROR for a crash or bad CGI output,
// 504 IDLE_TIMEOUT, 546 WORKER_LIMIT, 413, 503 BOOT_ERROR). None carries
// x-relay-error, so functions-js reports them as FunctionsHttpError with the
// response as context.
//
// Each invocation's status, duration, peak memory and stderr lines are kept
// in a bounded in-memory ring per function (GET …/functions/{name}/logs) and
// logged through slog.
//
// Imports: the standard library, pgx, prometheus, internal/functions/runtime
// and internal/{httpx,tenant,control,token,config,pg,secret}; no other
// surface.
package functions

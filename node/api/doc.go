// Package api is the node's local HTTP API, the only way the coop CLI talks
// to a running daemon, and a small Go client for it.
//
// The server binds to 127.0.0.1 by default and refuses non-loopback
// addresses unless told otherwise. Every /v1 request carries
// "Authorization: Bearer <token>", the token the daemon keeps in
// <home>/api.token (mode 0600), or the web dashboard's session cookie
// (session.go: a one-time login code minted with the token, then a cookie,
// with CSRF checks on state-changing requests); anything else is 401. The
// dashboard's page and assets (package dashboard), the login routes and
// GET /metrics need no credentials. JSON bodies are limited to MaxJSONBody
// bytes; uploads to Config.MaxUploadSize.
//
// Routes (all JSON unless noted):
//
//	POST   /v1/put?k=&m=&copies=&name=&strict=   body: the file bytes → PutResult
//	POST   /v1/get        {"capability"}  → the file bytes (application/octet-stream);
//	                                        "capability" may also be the file id of one
//	                                        of the account's own files
//	GET    /v1/files                      → []FileInfo (with capabilities opened
//	                                        from the ledger's sealed keys)
//	DELETE /v1/files/{id}                 → {}
//	GET    /v1/peers                      → []PeerInfo
//	GET    /v1/status                     → Status
//	GET    /v1/files/{id}/content?name=   → the file bytes, as a download
//	GET    /v1/health                     → []FileHealth (the account's files)
//	GET    /v1/files/{id}/health          → FileHealth
//	GET    /v1/account                    → AccountInfo (credits, quota and why)
//	POST   /v1/login-code                 → LoginCode (bearer token only)
//	GET    /login?code=                   → session cookie, redirect to /
//	POST   /logout                        → {}
//	GET    /                              → the dashboard (text/html)
//
// Errors are {"error": "…"} with the status StatusOf gives the Backend's
// error: a backend says what kind of failure it had by wrapping ErrInvalid
// (400), ErrForbidden (403), ErrNotFound (404), ErrTooLarge (413) or
// ErrUnavailable (503); anything else is 500. The client's *Error matches
// the same classes with errors.Is.
package api

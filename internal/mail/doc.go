// Package mail sends the auth emails: it renders the per-kind templates
// (confirmation, recovery, magic link, invite, email change,
// reauthentication) with the variables Supabase's templates use, composes a
// MIME message, and delivers it over SMTP with STARTTLS when the server
// offers it and AUTH PLAIN when credentials are configured.
//
// It may import only the standard library; it is a leaf and imports no
// other MadBase package. Tests deliver to internal/testutil/smtpsink.
package mail

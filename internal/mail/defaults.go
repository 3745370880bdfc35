package mail

// Default subjects are GoTrue's current ones; bodies are our own, each
// carrying the link and, where the flow accepts it, the numeric code for
// verifyOtp.
var defaults = map[Kind]Template{
	Confirmation: {
		Subject: "Confirm your email address",
		Body: `<h2>Confirm your email address</h2>
<p>Thanks for signing up to {{ .SiteURL }}. Open this link to confirm {{ .Email }}:</p>
<p><a href="{{ .ConfirmationURL }}">Confirm my email address</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not sign up, you can ignore this message.</p>
`,
	},
	Recovery: {
		Subject: "Reset your password",
		Body: `<h2>Reset your password</h2>
<p>Someone asked to reset the password for {{ .Email }}. Open this link to choose a new one:</p>
<p><a href="{{ .ConfirmationURL }}">Reset my password</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If it was not you, you can ignore this message; your password stays the same.</p>
`,
	},
	MagicLink: {
		Subject: "Your sign-in link",
		Body: `<h2>Sign in</h2>
<p>Open this link to sign in as {{ .Email }}:</p>
<p><a href="{{ .ConfirmationURL }}">Sign me in</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not ask to sign in, you can ignore this message.</p>
`,
	},
	Invite: {
		Subject: "You've been invited",
		Body: `<h2>You've been invited</h2>
<p>You have been invited to create an account on {{ .SiteURL }} as {{ .Email }}. Open this link to accept:</p>
<p><a href="{{ .ConfirmationURL }}">Accept the invitation</a></p>
`,
	},
	EmailChange: {
		Subject: "Confirm your new email address",
		Body: `<h2>Confirm your new email address</h2>
<p>Open this link to change your email address from {{ .Email }} to {{ .NewEmail }}:</p>
<p><a href="{{ .ConfirmationURL }}">Change my email address</a></p>
<p>Or enter this code: <strong>{{ .Token }}</strong></p>
<p>If you did not ask for this change, you can ignore this message.</p>
`,
	},
	Reauthentication: {
		Subject: "{{ .Token }} is your verification code",
		Body: `<h2>Confirm it is you</h2>
<p>Enter this code to continue: <strong>{{ .Token }}</strong></p>
<p>If you did not ask for a code, you can ignore this message.</p>
`,
	},
}

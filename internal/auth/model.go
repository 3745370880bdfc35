package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// nilUUID is GoTrue's instance_id for every row.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// user is one auth.users row.
type user struct {
	ID, Aud, Role, Email, EncryptedPassword     string
	EmailConfirmedAt, InvitedAt                 *time.Time
	ConfirmationToken                           string
	ConfirmationSentAt                          *time.Time
	RecoveryToken                               string
	RecoverySentAt                              *time.Time
	EmailChangeTokenNew, EmailChange            string
	EmailChangeSentAt                           *time.Time
	EmailChangeTokenCurrent                     string
	EmailChangeConfirmStatus                    int16
	LastSignInAt                                *time.Time
	AppMeta, UserMeta                           map[string]any
	CreatedAt, UpdatedAt                        time.Time
	Phone                                       string
	PhoneConfirmedAt                            *time.Time
	PhoneChange                                 string
	PhoneChangeSentAt, ConfirmedAt, BannedUntil *time.Time
	ReauthToken                                 string
	ReauthSentAt, DeletedAt                     *time.Time
	IsAnonymous                                 bool
	Identities                                  []identity
}

const userColumns = `id::text, coalesce(aud,''), coalesce(role,''), coalesce(email,''), coalesce(encrypted_password,''),
 email_confirmed_at, invited_at, coalesce(confirmation_token,''), confirmation_sent_at, coalesce(recovery_token,''), recovery_sent_at,
 coalesce(email_change_token_new,''), coalesce(email_change,''), email_change_sent_at, coalesce(email_change_token_current,''),
 coalesce(email_change_confirm_status,0), last_sign_in_at, coalesce(raw_app_meta_data,'{}'), coalesce(raw_user_meta_data,'{}'),
 coalesce(created_at, now()), coalesce(updated_at, now()), coalesce(phone,''), phone_confirmed_at, coalesce(phone_change,''),
 phone_change_sent_at, confirmed_at, banned_until, coalesce(reauthentication_token,''), reauthentication_sent_at, deleted_at, is_anonymous`

func scanUser(row pgx.Row) (*user, error) {
	u := &user{}
	err := row.Scan(&u.ID, &u.Aud, &u.Role, &u.Email, &u.EncryptedPassword,
		&u.EmailConfirmedAt, &u.InvitedAt, &u.ConfirmationToken, &u.ConfirmationSentAt, &u.RecoveryToken, &u.RecoverySentAt,
		&u.EmailChangeTokenNew, &u.EmailChange, &u.EmailChangeSentAt, &u.EmailChangeTokenCurrent,
		&u.EmailChangeConfirmStatus, &u.LastSignInAt, &u.AppMeta, &u.UserMeta,
		&u.CreatedAt, &u.UpdatedAt, &u.Phone, &u.PhoneConfirmedAt, &u.PhoneChange,
		&u.PhoneChangeSentAt, &u.ConfirmedAt, &u.BannedUntil, &u.ReauthToken, &u.ReauthSentAt, &u.DeletedAt, &u.IsAnonymous)
	if err != nil {
		return nil, err
	}
	if u.AppMeta == nil {
		u.AppMeta = map[string]any{}
	}
	if u.UserMeta == nil {
		u.UserMeta = map[string]any{}
	}
	return u, nil
}

// errNoUser is returned by the finders for a missing row.
var errNoUser = errors.New("auth: no such user")

func findUser(ctx context.Context, q querier, where string, args ...any) (*user, error) {
	u, err := scanUser(q.QueryRow(ctx, "select "+userColumns+" from auth.users where "+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoUser
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	return u, nil
}

func userByID(ctx context.Context, q querier, id string) (*user, error) {
	if !isUUID(id) {
		return nil, errNoUser
	}
	return findUser(ctx, q, "id = $1", id)
}

// fullUser loads a user with its identities, as GoTrue answers it.
func fullUser(ctx context.Context, q querier, id string) (*user, error) {
	u, err := userByID(ctx, q, id)
	if err != nil {
		return nil, err
	}
	return withIdentities(ctx, q, u)
}

// userByEmail finds a (non-SSO) user by lowercased email and audience.
func userByEmail(ctx context.Context, q querier, email, aud string) (*user, error) {
	return findUser(ctx, q, "lower(email) = $1 and aud = $2 and not is_sso_user", email, aud)
}

// withIdentities loads u's identities (GoTrue lists them on every
// single-user answer; [] rather than null when there are none).
func withIdentities(ctx context.Context, q querier, u *user) (*user, error) {
	rows, err := q.Query(ctx, `select id::text, provider_id, user_id::text, identity_data, provider, last_sign_in_at,
		created_at, updated_at, coalesce(email,'') from auth.identities where user_id = $1 order by created_at, id`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("auth: load identities: %w", err)
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (identity, error) {
		var i identity
		err := row.Scan(&i.ID, &i.ProviderID, &i.UserID, &i.Data, &i.Provider, &i.LastSignInAt, &i.CreatedAt, &i.UpdatedAt, &i.Email)
		return i, err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: load identities: %w", err)
	}
	u.Identities = append([]identity{}, ids...)
	return u, nil
}

// identity is one auth.identities row.
type identity struct {
	ID, ProviderID, UserID, Provider, Email string
	Data                                    map[string]any
	LastSignInAt, CreatedAt, UpdatedAt      *time.Time
}

func (u *user) emailConfirmed() bool { return u.EmailConfirmedAt != nil }

func (u *user) banned(now time.Time) bool { return u.BannedUntil != nil && u.BannedUntil.After(now) }

// userJSON is GoTrue's User object (compat/auth-functions.md §3.2): email
// and phone are "" when absent, timestamps omitted when null.
type userJSON struct {
	ID                     string         `json:"id"`
	Aud                    string         `json:"aud"`
	Role                   string         `json:"role"`
	Email                  string         `json:"email"`
	EmailConfirmedAt       *time.Time     `json:"email_confirmed_at,omitempty"`
	Phone                  string         `json:"phone"`
	PhoneConfirmedAt       *time.Time     `json:"phone_confirmed_at,omitempty"`
	ConfirmationSentAt     *time.Time     `json:"confirmation_sent_at,omitempty"`
	ConfirmedAt            *time.Time     `json:"confirmed_at,omitempty"`
	RecoverySentAt         *time.Time     `json:"recovery_sent_at,omitempty"`
	NewEmail               string         `json:"new_email,omitempty"`
	EmailChangeSentAt      *time.Time     `json:"email_change_sent_at,omitempty"`
	NewPhone               string         `json:"new_phone,omitempty"`
	PhoneChangeSentAt      *time.Time     `json:"phone_change_sent_at,omitempty"`
	ReauthenticationSentAt *time.Time     `json:"reauthentication_sent_at,omitempty"`
	InvitedAt              *time.Time     `json:"invited_at,omitempty"`
	LastSignInAt           *time.Time     `json:"last_sign_in_at,omitempty"`
	AppMetadata            map[string]any `json:"app_metadata"`
	UserMetadata           map[string]any `json:"user_metadata"`
	Identities             []identityJSON `json:"identities"`
	BannedUntil            *time.Time     `json:"banned_until,omitempty"`
	CreatedAt              time.Time      `json:"created_at"`
	UpdatedAt              time.Time      `json:"updated_at"`
	DeletedAt              *time.Time     `json:"deleted_at,omitempty"`
	IsAnonymous            bool           `json:"is_anonymous"`
}

type identityJSON struct {
	IdentityID   string         `json:"identity_id"`
	ID           string         `json:"id"`
	UserID       string         `json:"user_id"`
	IdentityData map[string]any `json:"identity_data"`
	Provider     string         `json:"provider"`
	LastSignInAt *time.Time     `json:"last_sign_in_at,omitempty"`
	CreatedAt    *time.Time     `json:"created_at"`
	UpdatedAt    *time.Time     `json:"updated_at"`
	Email        string         `json:"email,omitempty"`
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// json renders u; identities stay null when they were not loaded, as in
// GoTrue's user list.
func (u *user) json() *userJSON {
	j := &userJSON{
		ID: u.ID, Aud: u.Aud, Role: u.Role, Email: u.Email, Phone: u.Phone,
		EmailConfirmedAt: utc(u.EmailConfirmedAt), PhoneConfirmedAt: utc(u.PhoneConfirmedAt),
		ConfirmationSentAt: utc(u.ConfirmationSentAt), ConfirmedAt: utc(u.ConfirmedAt),
		RecoverySentAt: utc(u.RecoverySentAt), NewEmail: u.EmailChange, EmailChangeSentAt: utc(u.EmailChangeSentAt),
		NewPhone: u.PhoneChange, PhoneChangeSentAt: utc(u.PhoneChangeSentAt), ReauthenticationSentAt: utc(u.ReauthSentAt),
		InvitedAt: utc(u.InvitedAt), LastSignInAt: utc(u.LastSignInAt), AppMetadata: u.AppMeta, UserMetadata: u.UserMeta,
		BannedUntil: utc(u.BannedUntil), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
		DeletedAt: utc(u.DeletedAt), IsAnonymous: u.IsAnonymous,
	}
	if u.Identities != nil {
		j.Identities = make([]identityJSON, 0, len(u.Identities))
		for _, i := range u.Identities {
			j.Identities = append(j.Identities, identityJSON{
				IdentityID: i.ID, ID: i.ProviderID, UserID: i.UserID, IdentityData: i.Data, Provider: i.Provider,
				LastSignInAt: utc(i.LastSignInAt), CreatedAt: utc(i.CreatedAt), UpdatedAt: utc(i.UpdatedAt), Email: i.Email,
			})
		}
	}
	return j
}

// newUser is what createUser inserts.
type newUser struct {
	ID          string
	Email       string
	Phone       string
	Hash        string
	Aud, Role   string
	AppMeta     map[string]any
	UserMeta    map[string]any
	Confirmed   bool
	Anonymous   bool
	Invited     bool
	BannedUntil *time.Time
}

// createUser inserts a user (and its email identity) with plain INSERTs in
// tx, so user triggers on auth.users run as they do under GoTrue, then
// re-reads the row to pick up what the triggers changed. A taken email is
// errEmailExists.
func createUser(ctx context.Context, tx pgx.Tx, n newUser) (*user, error) {
	if n.ID == "" {
		n.ID = newUUID()
	}
	if n.Aud == "" {
		n.Aud = "authenticated"
	}
	if n.Role == "" {
		n.Role = "authenticated"
	}
	if n.AppMeta == nil {
		n.AppMeta = map[string]any{}
	}
	if n.UserMeta == nil {
		n.UserMeta = map[string]any{}
	}
	var phone any
	if n.Phone != "" {
		phone = n.Phone
	}
	var email any
	if n.Email != "" {
		email = n.Email
	}
	_, err := tx.Exec(ctx, `insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
		invited_at, raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at, phone, is_anonymous, banned_until,
		confirmation_token, recovery_token, email_change_token_new, email_change, email_change_token_current, phone_change,
		phone_change_token, reauthentication_token)
		values ($1, $2, $3, $4, $5, $6, case when $7 then now() end, case when $8 then now() end, $9, $10, false, now(), now(),
		$11, $12, $13, '', '', '', '', '', '', '', '')`,
		nilUUID, n.ID, n.Aud, n.Role, email, n.Hash, n.Confirmed, n.Invited, n.AppMeta, n.UserMeta, phone, n.Anonymous, n.BannedUntil)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			if strings.Contains(pe.ConstraintName, "phone") {
				return nil, errPhoneExists
			}
			if strings.Contains(pe.ConstraintName, "email") {
				return nil, errEmailExists
			}
			if strings.Contains(pe.ConstraintName, "pkey") {
				return nil, unproc("user_already_exists", "User already registered")
			}
		}
		return nil, fmt.Errorf("auth: insert user: %w", err)
	}
	if n.Email != "" {
		data := map[string]any{"sub": n.ID, "email": n.Email, "email_verified": n.Confirmed, "phone_verified": false}
		if _, err := tx.Exec(ctx, `insert into auth.identities (id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
			values ($1, $2::text, $2::uuid, $3, 'email', now(), now(), now())`, newUUID(), n.ID, data); err != nil {
			return nil, fmt.Errorf("auth: insert identity: %w", err)
		}
	}
	return fullUser(ctx, tx, n.ID)
}

// markEmailVerified records a confirmed email in user_metadata and the
// email identity, as GoTrue does on confirmation.
func markEmailVerified(ctx context.Context, q querier, id string) error {
	if _, err := q.Exec(ctx, `update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()),
		raw_user_meta_data = case when raw_user_meta_data ? 'email_verified' or raw_user_meta_data ? 'sub'
			then coalesce(raw_user_meta_data, '{}') || '{"email_verified": true}' else raw_user_meta_data end,
		updated_at = now() where id = $1`, id); err != nil {
		return fmt.Errorf("auth: confirm email: %w", err)
	}
	if _, err := q.Exec(ctx, `update auth.identities set identity_data = identity_data || '{"email_verified": true}', updated_at = now()
		where user_id = $1 and provider = 'email'`, id); err != nil {
		return fmt.Errorf("auth: confirm identity: %w", err)
	}
	return nil
}

func newUUID() string { return uuid.NewString() }

// isUUID reports whether s is a UUID in canonical 36-character form (the form
// a uuid column's text cast round-trips).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// normalEmail lowercases and checks an address the way GoTrue's validator
// does in spirit: one plain addr-spec, no display name, bounded length.
func normalEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 255 {
		return "", errInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") &&
		!strings.HasSuffix(s, "@localhost") {
		return "", errInvalidEmail
	}
	return s, nil
}

// mergeMeta applies a metadata patch: keys set to null are removed.
func mergeMeta(dst, patch map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(patch))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

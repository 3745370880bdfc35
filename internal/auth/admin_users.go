package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/mail"
)

func requestAud(r *http.Request) string {
	if a := r.Header.Get("X-JWT-AUD"); a != "" {
		return a
	}
	return "authenticated"
}

// GET /admin/users?page=&per_page=: {users, aud}, newest first, with
// X-Total-Count and a Link header in the form auth-js parses (page first,
// rel double-quoted).
func (s *Service) adminListUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	q := r.URL.Query()
	page, perPage := 1, 50
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return bad("validation_failed", "Bad Pagination Parameters")
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return bad("validation_failed", "Bad Pagination Parameters")
		}
		perPage = min(n, 1000)
	}
	aud := requestAud(r)
	where, args := "aud = $1", []any{aud}
	if f := q.Get("filter"); f != "" {
		args = append(args, "%"+strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f)+"%")
		where += " and (email ilike $2 or raw_user_meta_data->>'full_name' ilike $2)"
	}
	ctx := r.Context()
	var total int
	if err := c.pool.QueryRow(ctx, "select count(*) from auth.users where "+where, args...).Scan(&total); err != nil {
		return internal(err)
	}
	rows, err := c.pool.Query(ctx, "select "+userColumns+" from auth.users where "+where+
		" order by created_at desc, id limit "+strconv.Itoa(perPage)+" offset "+strconv.Itoa((page-1)*perPage), args...)
	if err != nil {
		return internal(err)
	}
	users := []*userJSON{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return internal(err)
		}
		users = append(users, u.json())
	}
	if err := rows.Err(); err != nil {
		return internal(err)
	}
	last := (total + perPage - 1) / perPage
	link := func(p int) string {
		var b strings.Builder
		b.WriteString("<" + r.URL.Path + "?page=" + strconv.Itoa(p))
		keys := make([]string, 0, len(q))
		for k := range q {
			if k != "page" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("&" + url.Values{k: q[k]}.Encode())
		}
		b.WriteString(">")
		return b.String()
	}
	var links []string
	if page < last {
		links = append(links, link(page+1)+`; rel="next"`)
	}
	links = append(links, link(last)+`; rel="last"`)
	w.Header().Set("Link", strings.Join(links, ", "))
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	return writeJSON(w, map[string]any{"users": users, "aud": aud})
}

type adminUserReq struct {
	ID           string         `json:"id"`
	Aud          string         `json:"aud"`
	Role         string         `json:"role"`
	Email        *string        `json:"email"`
	Phone        *string        `json:"phone"`
	Password     *string        `json:"password"`
	PasswordHash string         `json:"password_hash"`
	EmailConfirm bool           `json:"email_confirm"`
	PhoneConfirm bool           `json:"phone_confirm"`
	UserMetadata map[string]any `json:"user_metadata"`
	AppMetadata  map[string]any `json:"app_metadata"`
	BanDuration  string         `json:"ban_duration"`
}

func (s *Service) banUntil(d string) (*time.Time, bool, error) {
	switch d {
	case "":
		return nil, false, nil
	case "none":
		return nil, true, nil
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		return nil, false, bad("validation_failed", "invalid format for ban duration: "+err.Error())
	}
	t := s.now().Add(dur)
	return &t, true, nil
}

func importedHash(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$") ||
		strings.HasPrefix(h, "$argon2")
}

// POST /admin/users → 200 with the bare user.
func (s *Service) adminCreateUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	var req adminUserReq
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	n := newUser{ID: req.ID, Aud: req.Aud, Role: req.Role, Confirmed: req.EmailConfirm}
	if n.ID != "" && !isUUID(n.ID) {
		return validation("user id must be a valid UUID")
	}
	if req.Email != nil && *req.Email != "" {
		e, err := normalEmail(*req.Email)
		if err != nil {
			return err
		}
		n.Email = e
	}
	if req.Phone != nil && *req.Phone != "" {
		n.Phone = strings.TrimPrefix(strings.ReplaceAll(*req.Phone, " ", ""), "+")
	}
	if n.Email == "" && n.Phone == "" {
		return validation("Unable to validate email address: invalid format")
	}
	switch {
	case req.PasswordHash != "":
		if !importedHash(req.PasswordHash) {
			return validation("Invalid password hash format")
		}
		n.Hash = req.PasswordHash
	case req.Password != nil && *req.Password != "":
		if len(*req.Password) > 72 {
			return errPasswordTooLong
		}
		h, err := s.hasher.Hash(ctx, *req.Password)
		if err != nil {
			return internal(err)
		}
		n.Hash = h
	}
	ban, _, err := s.banUntil(req.BanDuration)
	if err != nil {
		return err
	}
	n.BannedUntil = ban
	provider := "email"
	if n.Email == "" {
		provider = "phone"
	}
	n.AppMeta = mergeMeta(req.AppMetadata, map[string]any{"provider": provider, "providers": []string{provider}})
	n.UserMeta = mergeMeta(req.UserMetadata, nil)
	if n.Email != "" {
		n.UserMeta["email_verified"] = req.EmailConfirm
	}
	var out *userJSON
	err = tx(ctx, c, func(tx pgx.Tx) error {
		if n.Email != "" {
			if _, err := userByEmail(ctx, tx, n.Email, "authenticated"); err == nil {
				return errEmailExists
			}
		}
		u, err := createUser(ctx, tx, n)
		if err != nil {
			return err
		}
		if n.Phone != "" && req.PhoneConfirm {
			if _, err := tx.Exec(ctx, `update auth.users set phone_confirmed_at = now() where id = $1`, u.ID); err != nil {
				return err
			}
		}
		if err := audit(ctx, tx, c, u, "user_signedup", "team", map[string]any{"provider": provider, "via": "admin"}); err != nil {
			return err
		}
		if u, err = fullUser(ctx, tx, u.ID); err != nil {
			return err
		}
		out = u.json()
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, out)
}

// adminTarget loads the {id} user of an admin route.
func adminTarget(ctx context.Context, q querier, r *http.Request) (*user, error) {
	id := r.PathValue("id")
	if !isUUID(id) {
		return nil, httpx404Validation()
	}
	u, err := userByID(ctx, q, id)
	if errors.Is(err, errNoUser) {
		return nil, errUserNotFound
	}
	if err != nil {
		return nil, internal(err)
	}
	return withIdentities(ctx, q, u)
}

func httpx404Validation() error {
	e := errUserNotFound.With(nil)
	e.Code, e.Message = "validation_failed", "user_id must be an UUID"
	return e
}

// GET /admin/users/{id}.
func (s *Service) adminGetUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	u, err := adminTarget(r.Context(), c.pool, r)
	if err != nil {
		return err
	}
	return writeJSON(w, u.json())
}

// PUT /admin/users/{id}.
func (s *Service) adminUpdateUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	var req adminUserReq
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	ban, setBan, err := s.banUntil(req.BanDuration)
	if err != nil {
		return err
	}
	newHash := ""
	switch {
	case req.PasswordHash != "":
		if !importedHash(req.PasswordHash) {
			return validation("Invalid password hash format")
		}
		newHash = req.PasswordHash
	case req.Password != nil:
		if err := checkPassword(c.st, *req.Password); err != nil {
			return err
		}
		if newHash, err = s.hasher.Hash(ctx, *req.Password); err != nil {
			return internal(err)
		}
	}
	var email string
	if req.Email != nil && *req.Email != "" {
		if email, err = normalEmail(*req.Email); err != nil {
			return err
		}
	}
	var out *userJSON
	err = tx(ctx, c, func(tx pgx.Tx) error {
		u, err := adminTarget(ctx, tx, r)
		if err != nil {
			return err
		}
		set := func(sql string, args ...any) error {
			_, err := tx.Exec(ctx, "update auth.users set "+sql+", updated_at = now() where id = $1", append([]any{u.ID}, args...)...)
			return err
		}
		if email != "" && email != u.Email {
			if other, err := userByEmail(ctx, tx, email, u.Aud); err == nil && other.ID != u.ID {
				return errEmailExists
			}
			if err := set("email = $2", email); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text)
				where user_id = $1 and provider = 'email'`, u.ID, email); err != nil {
				return err
			}
		}
		if req.Phone != nil {
			var phone any
			if p := strings.TrimPrefix(strings.ReplaceAll(*req.Phone, " ", ""), "+"); p != "" {
				phone = p
			}
			if err := set("phone = $2", phone); err != nil {
				return err
			}
		}
		if req.EmailConfirm {
			if err := markEmailVerified(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		if req.PhoneConfirm {
			if err := set("phone_confirmed_at = coalesce(phone_confirmed_at, now())"); err != nil {
				return err
			}
		}
		if newHash != "" {
			if err := set("encrypted_password = $2", newHash); err != nil {
				return err
			}
		}
		if req.UserMetadata != nil {
			if err := set("raw_user_meta_data = $2", mergeMeta(u.UserMeta, req.UserMetadata)); err != nil {
				return err
			}
		}
		if req.AppMetadata != nil {
			if err := set("raw_app_meta_data = $2", mergeMeta(u.AppMeta, req.AppMetadata)); err != nil {
				return err
			}
		}
		if req.Role != "" {
			if err := set("role = $2", req.Role); err != nil {
				return err
			}
		}
		if req.Aud != "" {
			if err := set("aud = $2", req.Aud); err != nil {
				return err
			}
		}
		if setBan {
			if err := set("banned_until = $2", ban); err != nil {
				return err
			}
		}
		if err := audit(ctx, tx, c, u, "user_modified", "user", map[string]any{"via": "admin"}); err != nil {
			return err
		}
		if u, err = adminTarget(ctx, tx, r); err != nil {
			return err
		}
		out = u.json()
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, out)
}

// DELETE /admin/users/{id} with {"should_soft_delete": bool} → 200 {}. A
// soft delete keeps the row (with deleted_at) but obfuscates the address,
// drops the password, sessions and identities, so the account cannot sign in.
func (s *Service) adminDeleteUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	var req struct {
		ShouldSoftDelete bool `json:"should_soft_delete"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	err := tx(ctx, c, func(tx pgx.Tx) error {
		u, err := adminTarget(ctx, tx, r)
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, c, u, "user_deleted", "team", map[string]any{"soft": req.ShouldSoftDelete}); err != nil {
			return err
		}
		if !req.ShouldSoftDelete {
			_, err := tx.Exec(ctx, `delete from auth.users where id = $1`, u.ID)
			return err
		}
		if u.DeletedAt != nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `delete from auth.sessions where user_id = $1`, u.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from auth.identities where user_id = $1`, u.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `update auth.users set deleted_at = now(), updated_at = now(), encrypted_password = '',
			email = case when email is null or email = '' then email else encode(sha256(convert_to(id::text || email, 'UTF8')), 'hex') || '@deleted.invalid' end,
			phone = null, email_change = '', confirmation_token = '', recovery_token = '', email_change_token_new = '',
			email_change_token_current = '', reauthentication_token = '', raw_user_meta_data = '{}'
			where id = $1`, u.ID)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{})
}

// invitee returns the user an invite is for, creating it; an already
// confirmed address is email_exists.
func (s *Service) invitee(ctx context.Context, tx pgx.Tx, c *call, email string, data map[string]any) (*user, error) {
	u, err := userByEmail(ctx, tx, email, "authenticated")
	switch {
	case errors.Is(err, errNoUser):
	case err != nil:
		return nil, err
	case u.emailConfirmed():
		return nil, errEmailExists
	default:
		if _, err := tx.Exec(ctx, `update auth.users set invited_at = now() where id = $1`, u.ID); err != nil {
			return nil, err
		}
		return userByID(ctx, tx, u.ID)
	}
	id := newUUID()
	meta := mergeMeta(data, nil)
	meta["sub"], meta["email"], meta["email_verified"], meta["phone_verified"] = id, email, false, false
	u, err = createUser(ctx, tx, newUser{ID: id, Email: email, Invited: true,
		AppMeta: map[string]any{"provider": "email", "providers": []string{"email"}}, UserMeta: meta})
	if err != nil {
		return nil, err
	}
	return u, audit(ctx, tx, c, u, "user_invited", "team", map[string]any{"user_email": email})
}

// POST /admin/generate_link: the link and code an email would carry,
// without sending it; the user's fields flattened with action_link,
// email_otp, hashed_token, verification_type and redirect_to.
func (s *Service) generateLink(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	var req struct {
		Type       string         `json:"type"`
		Email      string         `json:"email"`
		Password   string         `json:"password"`
		Data       map[string]any `json:"data"`
		NewEmail   string         `json:"new_email"`
		RedirectTo string         `json:"redirect_to"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalEmail(req.Email)
	if err != nil {
		return err
	}
	redirect := c.st.SiteURL
	if req.RedirectTo != "" && allowedRedirect(c.st, req.RedirectTo) {
		redirect = req.RedirectTo
	} else if q := redirectTo(c); q != "" {
		redirect = q
	}
	hash := ""
	if req.Type == "signup" {
		if req.Password == "" {
			return validation("Signup requires a valid password")
		}
		if err := checkPassword(c.st, req.Password); err != nil {
			return err
		}
		if hash, err = s.hasher.Hash(r.Context(), req.Password); err != nil {
			return internal(err)
		}
	}
	ctx := r.Context()
	var body map[string]any
	err = tx(ctx, c, func(tx pgx.Tx) error {
		u, err := userByEmail(ctx, tx, email, "authenticated")
		if err != nil && !errors.Is(err, errNoUser) {
			return err
		}
		create := func(pwHash string) (*user, error) {
			id := newUUID()
			meta := mergeMeta(req.Data, nil)
			meta["sub"], meta["email"], meta["email_verified"], meta["phone_verified"] = id, email, false, false
			nu, err := createUser(ctx, tx, newUser{ID: id, Email: email, Hash: pwHash,
				AppMeta: map[string]any{"provider": "email", "providers": []string{"email"}}, UserMeta: meta})
			if err == nil {
				err = audit(ctx, tx, c, nu, "user_signedup", "team", map[string]any{"provider": "email", "via": "generate_link"})
			}
			return nu, err
		}
		var o *issuedOTP
		typ := req.Type
		switch req.Type {
		case "signup":
			if u != nil && u.emailConfirmed() {
				return errEmailExists
			}
			if u == nil {
				if u, err = create(hash); err != nil {
					return err
				}
			}
			o, err = s.prepareOTP(ctx, tx, c, u, kindConfirm, nil, true)
		case "invite":
			if u, err = s.invitee(ctx, tx, c, email, req.Data); err != nil {
				return err
			}
			o, err = s.prepareOTP(ctx, tx, c, u, kindInvite, nil, true)
		case "magiclink":
			if u == nil {
				if u, err = create(""); err != nil {
					return err
				}
			}
			o, err = s.prepareOTP(ctx, tx, c, u, kindMagic, nil, true)
		case "recovery":
			if u == nil {
				return errUserNotFound
			}
			o, err = s.prepareOTP(ctx, tx, c, u, kindRecovery, nil, true)
		case "email_change_current", "email_change_new":
			if u == nil {
				return errUserNotFound
			}
			ne, err := normalEmail(req.NewEmail)
			if err != nil {
				return err
			}
			if other, err := userByEmail(ctx, tx, ne, u.Aud); err == nil && other.ID != u.ID {
				return errEmailExists
			}
			ec, err := s.prepareEmailChange(ctx, tx, c, u, ne, nil, true)
			if err != nil {
				return err
			}
			o = &issuedOTP{otp: ec.otpNew, hashed: ec.hashNew}
			if req.Type == "email_change_current" && ec.hashCur != "" {
				o = &issuedOTP{otp: ec.otpCur, hashed: ec.hashCur}
			}
			typ = "email_change"
		default:
			return validation("Invalid email action link type requested: " + req.Type)
		}
		if err != nil {
			return err
		}
		if u, err = fullUser(ctx, tx, u.ID); err != nil {
			return err
		}
		b, _ := json.Marshal(u.json())
		if err := json.Unmarshal(b, &body); err != nil {
			return err
		}
		body["action_link"] = mail.ConfirmationURL(s.authURL(c.p), o.hashed, typ, redirect)
		body["email_otp"] = o.otp
		body["hashed_token"] = o.hashed
		body["verification_type"] = typ
		body["redirect_to"] = redirect
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, body)
}

package functions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/functions/runtime"
	"github.com/madbase/madbase/internal/httpx"
)

var (
	errNoProject  = httpx.E(http.StatusNotFound, "project_not_found", "project not found")
	errNoFunc     = httpx.E(http.StatusNotFound, "function_not_found", "function not found")
	errBadName    = httpx.E(http.StatusBadRequest, "validation_failed", "invalid function name: letters, digits, '-' and '_', at most 64 characters, starting with a letter or digit")
	errModuleSize = httpx.E(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("module over %d bytes", MaxModuleSize))
)

// functionJSON is the admin view of a function.
type functionJSON struct {
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	VerifyJWT   bool      `json:"verify_jwt"`
	Limits      Limits    `json:"limits"`
	AllowHosts  []string  `json:"allow_hosts"`
	InjectDBURL bool      `json:"inject_db_url"`
	EnvNames    []string  `json:"env_names"` // values are never shown
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func view(f *Function) functionJSON {
	names := []string{}
	for k := range f.Manifest.Env {
		names = append(names, k)
	}
	slices.Sort(names)
	hosts := f.Manifest.AllowHosts
	if hosts == nil {
		hosts = []string{}
	}
	return functionJSON{
		Name: f.Name, Version: f.Version, SHA256: f.SHA256, Size: f.Size,
		VerifyJWT: f.Manifest.verifyJWT(), Limits: f.Manifest.Limits, AllowHosts: hosts,
		InjectDBURL: f.Manifest.InjectDBURL, EnvNames: names, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
	}
}

// project returns the project named by the path, refusing deleted ones.
func (s *Service) project(r *http.Request) (*control.Project, error) {
	ref := r.PathValue("ref")
	if !config.ValidRef(ref) {
		return nil, errNoProject
	}
	p, err := s.tenants.Store().Project(r.Context(), ref)
	if errors.Is(err, control.ErrNotFound) || err == nil && p.Status == control.StatusDeleted {
		return nil, errNoProject
	}
	return p, err
}

// target returns the project and the function name of a per-function route.
func (s *Service) target(r *http.Request) (*control.Project, string, error) {
	p, err := s.project(r)
	if err != nil {
		return nil, "", err
	}
	name := r.PathValue("name")
	if !ValidName(name) {
		return nil, "", errNoFunc
	}
	return p, name, nil
}

// adminDeploy deploys a new version: the raw module (Content-Type
// application/wasm) or multipart/form-data with a "module" part and an
// optional JSON "manifest" part; ?verify_jwt=false overrides the manifest.
func (s *Service) adminDeploy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if !ValidName(name) {
		return errBadName
	}
	wasm, man, err := readDeploy(r)
	if err != nil {
		return err
	}
	if q := r.URL.Query().Get("verify_jwt"); q != "" {
		b, err := strconv.ParseBool(q)
		if err != nil {
			return httpx.E(http.StatusBadRequest, "validation_failed", "verify_jwt: must be true or false")
		}
		man.VerifyJWT = &b
	}
	if err := man.Validate(); err != nil {
		return httpx.E(http.StatusBadRequest, "validation_failed", err.Error())
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return httpx.E(http.StatusBadRequest, "invalid_module", "not a WebAssembly module (no \\0asm header)")
	}
	mod, err := s.rt.Compile(r.Context(), wasm)
	if errors.Is(err, runtime.ErrInvalidModule) {
		return httpx.Wrap(err, http.StatusBadRequest, "invalid_module", strings.TrimPrefix(err.Error(), "functions/runtime: "))
	}
	if err != nil {
		return err
	}
	sum := digest(wasm)
	f, err := s.store.deploy(r.Context(), p.Ref, name, wasm, sum, man)
	if err != nil {
		_ = mod.Close(r.Context())
		return err
	}
	if err := s.store.save(sum, wasm); err != nil {
		// The control database has the bytes; the file is only a cache.
		s.log.WarnContext(r.Context(), "functions: caching module on disk", "sha256", sum, "err", err)
	}
	s.modules.put(sum, mod)
	s.forget(r.Context(), p.Ref, name)
	s.log.InfoContext(r.Context(), "function deployed", "project", p.Ref, "function", name, "version", f.Version, "sha256", sum, "size", f.Size)
	httpx.WriteJSON(w, http.StatusCreated, view(f))
	return nil
}

// readDeploy reads the module and manifest of a deploy request.
func readDeploy(r *http.Request) ([]byte, Manifest, error) {
	var man Manifest
	body := http.MaxBytesReader(nil, r.Body, MaxModuleSize+1<<20)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		wasm, err := readModule(body)
		return wasm, man, err
	}
	if params["boundary"] == "" {
		return nil, man, httpx.E(http.StatusBadRequest, "validation_failed", "multipart body without boundary")
	}
	mr := multipart.NewReader(body, params["boundary"])
	var wasm []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, man, bodyError(err)
		}
		switch {
		case part.FormName() == "manifest" || part.FormName() == "metadata":
			dec := json.NewDecoder(io.LimitReader(part, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&man); err != nil {
				return nil, man, httpx.Wrap(err, http.StatusBadRequest, "bad_json", "manifest is not valid: "+err.Error())
			}
		case part.FormName() == "module" || part.FormName() == "file" || part.Header.Get("Content-Type") == "application/wasm":
			if wasm, err = readModule(part); err != nil {
				return nil, man, err
			}
		}
		part.Close()
	}
	if wasm == nil {
		return nil, man, httpx.E(http.StatusBadRequest, "validation_failed", `multipart deploy needs a "module" part with the WebAssembly module`)
	}
	return wasm, man, nil
}

func readModule(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxModuleSize+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if len(b) > MaxModuleSize {
		return nil, errModuleSize
	}
	if len(b) == 0 {
		return nil, httpx.E(http.StatusBadRequest, "validation_failed", "request body is required: the WebAssembly module")
	}
	return b, nil
}

func bodyError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errModuleSize
	}
	return httpx.Wrap(err, http.StatusBadRequest, "validation_failed", "cannot read the request body: "+err.Error())
}

func (s *Service) adminList(w http.ResponseWriter, r *http.Request) error {
	p, err := s.project(r)
	if err != nil {
		return err
	}
	fs, err := s.store.list(r.Context(), p.Ref)
	if err != nil {
		return err
	}
	out := make([]functionJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, view(f))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) adminGet(w http.ResponseWriter, r *http.Request) error {
	p, name, err := s.target(r)
	if err != nil {
		return err
	}
	f, err := s.store.function(r.Context(), p.Ref, name)
	if errors.Is(err, errNoFunction) {
		return errNoFunc
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, view(f))
	return nil
}

func (s *Service) adminDelete(w http.ResponseWriter, r *http.Request) error {
	p, name, err := s.target(r)
	if err != nil {
		return err
	}
	if err := s.store.delete(r.Context(), p.Ref, name); errors.Is(err, errNoFunction) {
		return errNoFunc
	} else if err != nil {
		return err
	}
	s.forget(r.Context(), p.Ref, name)
	s.logs.drop(p.Ref, name)
	if err := s.store.collect(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "functions: collecting unused modules", "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) adminVersions(w http.ResponseWriter, r *http.Request) error {
	p, name, err := s.target(r)
	if err != nil {
		return err
	}
	vs, err := s.store.versions(r.Context(), p.Ref, name)
	if errors.Is(err, errNoFunction) {
		return errNoFunc
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, vs)
	return nil
}

func (s *Service) adminRollback(w http.ResponseWriter, r *http.Request) error {
	p, name, err := s.target(r)
	if err != nil {
		return err
	}
	var req struct {
		Version int `json:"version"`
	}
	if err := httpx.DecodeJSON(r, &req, 1<<10); err != nil || req.Version <= 0 {
		return httpx.E(http.StatusBadRequest, "validation_failed", `body must be {"version": N} with N a deployed version`)
	}
	if err := s.store.rollback(r.Context(), p.Ref, name, req.Version); errors.Is(err, errNoFunction) {
		return httpx.E(http.StatusNotFound, "version_not_found", fmt.Sprintf("function %s has no version %d", name, req.Version))
	} else if err != nil {
		return err
	}
	s.forget(r.Context(), p.Ref, name)
	f, err := s.store.function(r.Context(), p.Ref, name)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "function rolled back", "project", p.Ref, "function", name, "version", f.Version)
	httpx.WriteJSON(w, http.StatusOK, view(f))
	return nil
}

func (s *Service) adminLogs(w http.ResponseWriter, r *http.Request) error {
	p, name, err := s.target(r)
	if err != nil {
		return err
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return httpx.E(http.StatusBadRequest, "validation_failed", "limit: must be a positive integer")
		}
	}
	httpx.WriteJSON(w, http.StatusOK, s.logs.get(fnKey{p.Ref, name}, limit))
	return nil
}

package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrUnsafeFile: the key file may be read or written by others than its
// owner (any group or other permission bit), or is not a regular file.
var ErrUnsafeFile = errors.New("seal: unsafe key file")

// fileMode is the permission of the key files this package writes.
const fileMode = 0o600

// LoadFile reads the keyring of a key file. It refuses a file with any
// group or other permission bit, or one that is not a regular file (a
// symlink is followed to its target, which is checked).
func LoadFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUnsafeFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; it must not be accessible to group or others (chmod 600 %s)",
			ErrUnsafeFile, path, perm, path)
	}
	text, err := io.ReadAll(io.LimitReader(f, MaxTextSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	r, err := Parse(text)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return r, nil
}

// WriteFile replaces the key file at path with r, atomically: the text goes
// to a 0600 temporary file in the same directory, is synced, and is renamed
// over path; the directory is synced after. A crash leaves either the old
// file or the new one.
func WriteFile(path string, r *Keyring) error {
	tmp, err := writeTemp(path, r)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("seal: write key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// CreateFile writes r to a new key file at path, atomically, and fails
// with an error wrapping fs.ErrExist when path exists: it never replaces a
// key file.
func CreateFile(path string, r *Keyring) error {
	tmp, err := writeTemp(path, r)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// A filesystem without hard links: create the file exclusively
		// instead (not atomic: a crash may leave a short file, which
		// then fails to parse rather than being taken for a keyring).
		err = createExclusive(path, r)
	}
	if err != nil {
		return fmt.Errorf("seal: create key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// createExclusive writes r to a new 0600 file at path, failing when it
// exists.
func createExclusive(path string, r *Keyring) error {
	text, err := r.KeyFileText()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	if _, err = f.Write(text); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// writeTemp writes r to a synced 0600 temporary file beside path.
func writeTemp(path string, r *Keyring) (string, error) {
	text, err := r.KeyFileText()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("seal: write key file: %w", err)
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(name)
		return "", fmt.Errorf("seal: write key file: %w", err)
	}
	if err := f.Chmod(fileMode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(text); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("seal: write key file: %w", err)
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: sync %s: %w", dir, err)
	}
	return nil
}

// Source says where a keyring came from, for logs and errors. It never
// holds key material.
type Source struct {
	// Env is the variable the keyring was read from ("" for a file).
	Env string
	// File is the key file it was read from or created as ("" for Env).
	File string
	// Created is true when File was created by this Load, with one fresh
	// key.
	Created bool
	// Ignored is the key file that exists but was not read because Env
	// takes precedence ("" when none).
	Ignored string
}

func (s Source) String() string {
	if s.Env != "" {
		return "environment variable " + s.Env
	}
	return "key file " + s.File
}

// LoadOptions say where Load looks for the keyring.
type LoadOptions struct {
	// File is the key file path.
	File string
	// EnvName is the variable's name and EnvValue its value; a non-empty
	// value takes precedence over File.
	EnvName, EnvValue string
	// Create writes a new key file with one fresh key when File is absent
	// (and the variable is empty).
	Create bool
}

// Load returns the keyring from the variable when it is set, else from the
// key file, creating it when asked and absent. A set variable wins over a
// file; Source.Ignored then names the file so the caller can log it.
func Load(o LoadOptions) (*Keyring, Source, error) {
	if o.EnvValue != "" {
		src := Source{Env: o.EnvName}
		if _, err := os.Lstat(o.File); o.File != "" && err == nil {
			src.Ignored = o.File
		}
		r, err := Parse([]byte(o.EnvValue))
		if err != nil {
			return nil, src, fmt.Errorf("%s: %w", o.EnvName, err)
		}
		return r, src, nil
	}
	src := Source{File: o.File}
	if o.File == "" {
		return nil, src, errors.New("seal: no key file and no key variable set")
	}
	r, err := LoadFile(o.File)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !o.Create {
		return r, src, err
	}
	if r, err = Generate(); err != nil {
		return nil, src, err
	}
	if err := CreateFile(o.File, r); err != nil {
		return nil, src, err
	}
	src.Created = true
	return r, src, nil
}

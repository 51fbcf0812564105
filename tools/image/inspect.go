package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// report is what inspect prints.
type report struct {
	ManifestDigest    string            `json:"manifestDigest"`
	ManifestMediaType string            `json:"manifestMediaType"`
	Annotations       map[string]string `json:"annotations"` // of the manifest's descriptor in index.json
	Platform          *v1.Platform      `json:"platform"`
	ConfigDigest      string            `json:"configDigest"`
	ConfigMediaType   string            `json:"configMediaType"`
	Config            *v1.ConfigFile    `json:"config"`
	Layers            []layerReport     `json:"layers"`
	Tarball           *tarballReport    `json:"tarball,omitempty"`
}

type layerReport struct {
	Digest    string       `json:"digest"`
	MediaType string       `json:"mediaType"`
	Files     []fileReport `json:"files"`
}

type fileReport struct {
	Path     string `json:"path"`
	Type     string `json:"type"` // file, dir, symlink, hardlink, other
	Mode     int64  `json:"mode"` // permission and sticky/setuid bits
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	Size     int64  `json:"size"`
	Linkname string `json:"linkname,omitempty"`
}

type tarballReport struct {
	ConfigDigest string   `json:"configDigest"`
	LayerDigests []string `json:"layerDigests"`
	RepoTags     []string `json:"repoTags"`
}

func runInspect(args []string) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	dir := fs.String("layout", "", "OCI image layout directory holding one image")
	tarPath := fs.String("tarball", "", "also read this image tarball and report its config and layer digests")
	extract := fs.String("extract", "", "copy this file out of the image's filesystem (e.g. /authsvc)")
	to := fs.String("to", "", "where -extract writes the file (mode 0755)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || (*extract == "") != (*to == "") || fs.NArg() > 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	img, rep, err := readLayout(*dir)
	if err != nil {
		return err
	}
	if *tarPath != "" {
		if rep.Tarball, err = readTarball(*tarPath); err != nil {
			return err
		}
	}
	if *extract != "" {
		if err := extractFile(img, *extract, *to); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// readLayout reads the one image of an OCI layout, validates it (every blob's
// digest and size, diff ids against the config) and lists its layers' files.
func readLayout(dir string) (v1.Image, *report, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, nil, fmt.Errorf("%s: index.json lists %d manifests, want 1", dir, len(im.Manifests))
	}
	desc := im.Manifests[0]
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return nil, nil, err
	}
	if err := validate.Image(img); err != nil {
		return nil, nil, fmt.Errorf("%s: invalid image: %w", dir, err)
	}
	rep := &report{ManifestDigest: desc.Digest.String(), ManifestMediaType: string(desc.MediaType),
		Annotations: desc.Annotations, Platform: desc.Platform}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, err
	}
	rep.ConfigDigest, rep.ConfigMediaType = m.Config.Digest.String(), string(m.Config.MediaType)
	if rep.Config, err = img.ConfigFile(); err != nil {
		return nil, nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, nil, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return nil, nil, err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, nil, err
		}
		files, err := listTar(rc)
		rc.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("layer %s: %w", d, err)
		}
		rep.Layers = append(rep.Layers, layerReport{Digest: d.String(), MediaType: string(mt), Files: files})
	}
	return img, rep, nil
}

func listTar(r io.Reader) ([]fileReport, error) {
	tr := tar.NewReader(r)
	var out []fileReport
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		typ := "other"
		switch h.Typeflag {
		case tar.TypeReg:
			typ = "file"
		case tar.TypeDir:
			typ = "dir"
		case tar.TypeSymlink:
			typ = "symlink"
		case tar.TypeLink:
			typ = "hardlink"
		}
		out = append(out, fileReport{Path: h.Name, Type: typ, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Size: h.Size, Linkname: h.Linkname})
	}
}

// readTarball reads a docker-style image tarball and validates it.
func readTarball(p string) (*tarballReport, error) {
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		return nil, err
	}
	if err := validate.Image(img); err != nil {
		return nil, fmt.Errorf("%s: invalid image: %w", p, err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	if err != nil {
		return nil, err
	}
	rep := &tarballReport{}
	for _, d := range m {
		rep.RepoTags = append(rep.RepoTags, d.RepoTags...)
	}
	cn, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	rep.ConfigDigest = cn.String()
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		rep.LayerDigests = append(rep.LayerDigests, d.String())
	}
	return rep, nil
}

// extractFile copies one regular file of the image's flattened filesystem to dst.
func extractFile(img v1.Image, name, dst string) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := path.Clean("/" + name)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s is not in the image", want)
		}
		if err != nil {
			return err
		}
		if path.Clean("/"+h.Name) != want {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s is not a regular file", want)
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

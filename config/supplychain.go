package config

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"

	abs "github.com/openabs/abs"
	"github.com/openabs/abs/certify"
	"github.com/openabs/abs/partnerapi"
	"github.com/openabs/abs/secret"
	"github.com/openabs/abs/sign"
)

// checkSupplyChain checks the certification and signing keys.
func (f *File) checkSupplyChain() error {
	c := f.Certification
	if c.Policy != "" && !slices.Contains(certify.Variants(), certify.Variant(c.Policy)) {
		return f.errorf("certification.policy", "unknown policy (want container, root, scratch-nonroot, scratch-root or konflux)")
	}
	if (c.Policy != "" || c.RequireAll || len(c.Skip) > 0) && !c.Enabled {
		return f.errorf("certification.enabled", "certification settings are given but enabled is false")
	}
	if len(c.Skip) > 0 {
		p, err := certify.New(f.variant())
		if err != nil {
			return f.errorf("certification.policy", "%v", err)
		}
		for i, name := range c.Skip {
			if !slices.ContainsFunc(p.Checks(), func(ch certify.Check) bool { return ch.Name() == name }) {
				return f.errorf(fmt.Sprintf("certification.skip[%d]", i), "not a check of the %s policy", p.Name())
			}
		}
	}
	s := f.Signing
	switch s.SBOM {
	case "", "spdx", "cyclonedx", "both":
	default:
		return f.errorf("signing.sbom", "must be spdx, cyclonedx or both")
	}
	if s.KeyFile == "" && (s.PasswordFile != "" || s.PasswordEnv != "" || s.SBOM != "" || s.BuilderID != "") {
		return f.errorf("signing.key_file", "required with the other signing settings")
	}
	return nil
}

func (f *File) variant() certify.Variant {
	if f.Certification.Policy == "" {
		return certify.Container
	}
	return certify.Variant(f.Certification.Policy)
}

// supplyChainOptions returns the certification gate and the signer the
// file configures. The signer reaches registries with the keychain of
// registries[], and plain HTTP only to the hosts marked insecure.
func (f *File) supplyChainOptions(kc authn.Keychain, insecure []string, transport http.RoundTripper, catalog *partnerapi.Client, log *slog.Logger) ([]abs.Option, error) {
	var opts []abs.Option
	if f.Certification.Enabled {
		copts := []certify.Option{certify.WithLogger(log)}
		if catalog != nil {
			copts = append(copts, certify.WithCatalog(catalog)) // BasedOnUbi asks the catalog
		}
		p, err := certify.New(f.variant(), copts...)
		if err != nil {
			return nil, f.errorf("certification.policy", "%v", err)
		}
		if len(f.Certification.Skip) > 0 {
			p = p.Without(f.Certification.Skip...)
		}
		var gopts []abs.CertificationOption
		if f.Certification.RequireAll {
			gopts = append(gopts, abs.RequireAllChecks())
		}
		opts = append(opts, abs.WithCertification(p, nil, gopts...))
	}
	if s := f.Signing; s.KeyFile != "" {
		pw, err := f.secret("signing.password", s.PasswordFile, s.PasswordEnv)
		if err != nil {
			return nil, err
		}
		key, err := sign.LoadKeyFile(s.KeyFile, secret.New(pw))
		if err != nil {
			return nil, f.errorf("signing.key_file", "%s", f.scrubber().Scrub(err.Error()))
		}
		sopts := []sign.Option{sign.WithKeychain(kc), sign.WithLogger(log)}
		if len(insecure) > 0 {
			sopts = append(sopts, sign.WithPlainHTTP(), sign.WithTransport(plainHTTPHosts{hosts: insecure, inner: transport}))
		}
		var scopts []abs.SupplyChainOption
		switch s.SBOM {
		case "cyclonedx":
			scopts = append(scopts, abs.WithSBOM(abs.SBOMCycloneDX))
		case "both":
			scopts = append(scopts, abs.WithSBOM(abs.SBOMSPDX, abs.SBOMCycloneDX))
		}
		if s.BuilderID != "" {
			scopts = append(scopts, abs.WithBuilderID(s.BuilderID))
		}
		opts = append(opts, abs.WithSigner(sign.New(key, sopts...), scopts...))
	}
	return opts, nil
}

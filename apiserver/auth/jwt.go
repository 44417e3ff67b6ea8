package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AccessTokenTTL is how long an access token is valid.
const AccessTokenTTL = 15 * time.Minute

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// Role is the platform role as of issue time, for clients: authorization
	// reads the current role, never this claim.
	Role string `json:"role"`
	// Epoch is the account's session epoch at issue time; a token of an
	// older epoch than the account's is refused.
	Epoch int64 `json:"sep,omitempty"`
	// Orgs maps organization ids to the caller's role in each, as of issue
	// time. Authorization re-checks membership in the database; this is for
	// clients.
	Orgs map[string]string `json:"orgs,omitempty"`
}

// Keys signs access tokens with one Ed25519 key and verifies tokens signed
// by any of several, for rotation. Each key is named by a kid derived from
// its public key.
type Keys struct {
	issuer   string
	audience string
	signKID  string
	sign     ed25519.PrivateKey
	verify   map[string]ed25519.PublicKey
	now      func() time.Time
}

// KeyID derives a key id from a public key: the first 16 hex digits of the
// SHA-256 of its bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// NewKeys returns Keys that sign with sign and also accept tokens signed by
// the private keys matching extra (retired keys still in their 15 minutes).
func NewKeys(issuer, audience string, sign ed25519.PrivateKey, extra ...ed25519.PublicKey) *Keys {
	k := &Keys{issuer: issuer, audience: audience, sign: sign, verify: map[string]ed25519.PublicKey{}, now: time.Now}
	pub := sign.Public().(ed25519.PublicKey)
	k.signKID = KeyID(pub)
	k.verify[k.signKID] = pub
	for _, p := range extra {
		k.verify[KeyID(p)] = p
	}
	return k
}

// WithClock makes k read the time from now (for tests).
func (k *Keys) WithClock(now func() time.Time) *Keys {
	k.now = now
	return k
}

// Issue signs an access token for a user in session epoch epoch.
func (k *Keys) Issue(userID uuid.UUID, role string, epoch int64, orgs map[string]string) (string, time.Time, error) {
	now := k.now()
	exp := now.Add(AccessTokenTTL)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    k.issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{k.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        uuid.NewString(),
		},
		Role:  role,
		Epoch: epoch,
		Orgs:  orgs,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = k.signKID
	s, err := t.SignedString(k.sign)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, exp, nil
}

// ErrInvalidToken is returned for any token that does not verify.
var ErrInvalidToken = errors.New("invalid access token")

// Parse verifies an access token: EdDSA only, a known kid, this issuer and
// audience, unexpired.
func (k *Keys) Parse(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := k.verify[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return pub, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(k.issuer),
		jwt.WithAudience(k.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(k.now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if _, err := uuid.Parse(c.Subject); err != nil {
		return nil, fmt.Errorf("%w: bad subject", ErrInvalidToken)
	}
	return &c, nil
}

// ParsePrivateKeyPEM reads an Ed25519 private key in PKCS #8 PEM.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want Ed25519", k)
	}
	return ek, nil
}

// ParsePublicKeyPEM reads an Ed25519 public key (PKIX PEM) or the public
// half of a PKCS #8 private key.
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if b.Type == "PRIVATE KEY" {
		k, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return nil, err
		}
		return k.Public().(ed25519.PublicKey), nil
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want Ed25519", k)
	}
	return ek, nil
}

// MarshalPrivateKeyPEM encodes k as PKCS #8 PEM.
func MarshalPrivateKeyPEM(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Package markdown renders the Markdown people write on CodeQuest (problem
// statements, lessons, forum posts) into HTML that is safe to put in a
// page, and into plain text for search.
//
// Two walls: goldmark renders without raw HTML (a `<script>` in the source
// becomes an omitted-HTML comment, never markup), and bluemonday then keeps
// only an allowlist of elements and attributes, links only to http, https,
// mailto and relative addresses (rel="nofollow noopener", external ones in
// a new tab), images only from http, https and relative addresses (no
// data: URIs), and a code block's language only as a `language-x` class.
// The result is the same for the same source: it can be stored beside it.
package markdown

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// MaxSource is the largest source Render takes.
const MaxSource = 512 << 10

// ErrTooLarge and ErrInvalidUTF8 are Render's refusals.
var (
	ErrTooLarge    = fmt.Errorf("markdown: more than %d bytes", MaxSource)
	ErrInvalidUTF8 = errors.New("markdown: not valid UTF-8")
	ErrNUL         = errors.New("markdown: holds a NUL character")
)

// A Renderer renders and sanitises. It is safe for concurrent use; make
// one with New and share it.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
	strict *bluemonday.Policy
}

// New returns a Renderer.
func New() *Renderer {
	md := goldmark.New(
		// GitHub's dialect: tables (aligned by attribute, not style),
		// strikethrough, autolinks, task lists.
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough, extension.Linkify, extension.TaskList),
		// No renderer option allows raw HTML: it is omitted.
	)
	return &Renderer{md: md, policy: Policy(), strict: bluemonday.StrictPolicy()}
}

var (
	codeLanguage = regexp.MustCompile(`^language-[A-Za-z0-9_+#-]{1,32}$`)
	tableAlign   = regexp.MustCompile(`^(left|center|right)$`)
	checkbox     = regexp.MustCompile(`^checkbox$`)
)

// Policy is the allowlist Render applies to goldmark's output.
func Policy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code",
		"em", "strong", "del", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "sup", "sub")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.AllowAttrs("class").Matching(codeLanguage).OnElements("code")
	p.AllowAttrs("align").Matching(tableAlign).OnElements("th", "td")
	// Task lists: a disabled checkbox, nothing else of forms.
	p.AllowAttrs("type").Matching(checkbox).OnElements("input")
	p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^(|checked|disabled)$`)).OnElements("input")
	p.AllowAttrs("href", "title").OnElements("a")
	p.AllowAttrs("src", "alt", "title").OnElements("img")
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowRelativeURLs(true)
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

// Render returns the sanitised HTML of src.
func (r *Renderer) Render(src []byte) (string, error) {
	if err := check(src); err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := r.md.Convert(src, &b); err != nil {
		return "", fmt.Errorf("markdown: %w", err)
	}
	return r.policy.Sanitize(b.String()), nil
}

// Text returns the words of src without markup, for search and snippets.
func (r *Renderer) Text(src []byte) (string, error) {
	h, err := r.Render(src)
	if err != nil {
		return "", err
	}
	// Block ends become spaces, so words of two paragraphs do not join.
	h = blockEnd.ReplaceAllString(h, " ")
	t := html.UnescapeString(r.strict.Sanitize(h))
	return strings.Join(strings.Fields(t), " "), nil
}

var blockEnd = regexp.MustCompile(`</(p|h[1-6]|li|td|th|pre|blockquote)>|<br\s*/?>`)

func check(src []byte) error {
	switch {
	case len(src) > MaxSource:
		return ErrTooLarge
	case !utf8.Valid(src):
		return ErrInvalidUTF8
	case bytes.IndexByte(src, 0) >= 0:
		return ErrNUL
	}
	return nil
}

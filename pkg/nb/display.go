package nb

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"strings"

	"github.com/difflab/difflab/pkg/train"
	"github.com/janpfeifer/gonb/gonbui"
)

// InNotebook reports whether the program runs inside a GoNB cell.
func InNotebook() bool { return gonbui.IsNotebook }

// Show renders fn's PNG (as pkg/plot's functions write) and displays it in the
// cell. The error is fn's; outside a notebook fn still runs, so errors show.
func Show(fn func(w io.Writer) error) error {
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return err
	}
	ShowPNG(b.Bytes())
	return nil
}

// ShowPNG displays PNG bytes in the cell.
func ShowPNG(png []byte) {
	gonbui.DisplayPNG(png)
	Flush()
}

// Flush waits until GoNB has received everything displayed so far. The Show
// functions call it: without it, output sent just before a cell's program
// exits can be lost. Call it after displaying through gonbui directly (or a
// package such as track/nbdisplay) at the end of a cell.
func Flush() { gonbui.Sync() }

// ShowImage displays img in the cell as a PNG.
func ShowImage(img image.Image) error {
	b, err := EncodePNG(img)
	if err != nil {
		return err
	}
	ShowPNG(b)
	return nil
}

// EncodePNG encodes img as PNG.
func EncodePNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("nb: %w", err)
	}
	return b.Bytes(), nil
}

// ShowHTML displays html in the cell.
func ShowHTML(html string) {
	gonbui.DisplayHTML(html)
	Flush()
}

// ShowMarkdown displays markdown in the cell.
func ShowMarkdown(md string) {
	gonbui.DisplayMarkdown(md)
	Flush()
}

// ImgHTML returns an <img> element that embeds png as a data URL, for HTML
// outputs (a live cell, several images side by side).
func ImgHTML(png []byte) string {
	return `<img src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(png) + `">`
}

// HTMLTable returns an HTML table with a header row and one row per rows
// entry. Every cell is HTML-escaped. Rows shorter than header are padded with
// empty cells; longer rows panic, since a column would have no name.
func HTMLTable(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("<table>\n<thead><tr>")
	for _, h := range header {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for i, r := range rows {
		if len(r) > len(header) {
			panic(fmt.Sprintf("nb: HTMLTable: row %d has %d cells, header has %d", i, len(r), len(header)))
		}
		b.WriteString("<tr>")
		for j := range header {
			v := ""
			if j < len(r) {
				v = r[j]
			}
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(v))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>")
	return b.String()
}

// Live is an output block that a long cell redraws in place, e.g. a loss
// curve during training: each Update replaces the block's contents. Jupyter
// keeps the last contents in the saved notebook.
type Live struct{ id string }

// NewLive returns a live output block; it appears at its first Update.
func NewLive() *Live { return &Live{id: "difflab_live_" + gonbui.UniqueId()} }

// Update replaces the block's contents with html.
func (l *Live) Update(html string) {
	gonbui.UpdateHTML(l.id, html)
	Flush()
}

// UpdatePNG replaces the block's contents with the image fn renders (see Show).
func (l *Live) UpdatePNG(fn func(w io.Writer) error) error {
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return err
	}
	l.Update(ImgHTML(b.Bytes()))
	return nil
}

// AttachProgressBar shows the progress of tr's Run in the cell: an HTML progress
// bar with the line of train.Progress, updated in place at every report. Outside a
// notebook it does nothing; train.AttachProgressBar shows the same line on a
// terminal or a log.
func AttachProgressBar(tr *train.Trainer) {
	if !InNotebook() {
		return
	}
	id := "difflab_train_" + gonbui.UniqueId()
	tr.OnProgress(func(p train.Progress) {
		if p.Done {
			Flush()
			return
		}
		gonbui.UpdateHTML(id, fmt.Sprintf(
			`<div style="font-family:monospace"><progress value="%.4f" max="1" style="width:20em"></progress> %s</div>`,
			p.Fraction(), html.EscapeString(p.String())))
	})
}

// Must panics with err when it is not nil: in a notebook cell a panic stops
// the cell and shows the error, which is what a failed step should do.
func Must(err error) {
	if err != nil {
		panic(err)
	}
}

// Must1 returns v, or panics with err when it is not nil (see Must).
func Must1[T any](v T, err error) T {
	Must(err)
	return v
}

func htmlEscape(s string) string { return html.EscapeString(s) }

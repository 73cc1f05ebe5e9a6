package plot

import (
	"image"
	"image/color"
	"image/draw"
)

// TileOptions lays out Tile's grid.
type TileOptions struct {
	// Gap is the space in pixels between neighbouring cells.
	Gap int
	// Margin is the space in pixels around the grid.
	Margin int
	// Background fills the gaps, the margin and the empty cells; nil is black.
	Background color.Color
}

// Tile draws images in a grid, rows[i][j] at row i and column j, each in the
// top-left corner of its cell. A column is as wide as its widest image and a row as
// tall as its tallest; nil images leave their cell empty, and a row or column with
// no image at all takes the size of the largest image. It returns an empty image
// when there is no image.
func Tile(rows [][]image.Image, o TileOptions) image.Image {
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	colW, rowH := make([]int, cols), make([]int, len(rows))
	maxW, maxH := 0, 0
	for i, r := range rows {
		for j, img := range r {
			if img == nil {
				continue
			}
			b := img.Bounds()
			colW[j], rowH[i] = max(colW[j], b.Dx()), max(rowH[i], b.Dy())
			maxW, maxH = max(maxW, b.Dx()), max(maxH, b.Dy())
		}
	}
	if maxW == 0 {
		return image.NewRGBA(image.Rectangle{})
	}
	fill := func(sizes []int, m int) int {
		total := 2*o.Margin + o.Gap*max(len(sizes)-1, 0)
		for k := range sizes {
			if sizes[k] == 0 {
				sizes[k] = m
			}
			total += sizes[k]
		}
		return total
	}
	out := image.NewRGBA(image.Rect(0, 0, fill(colW, maxW), fill(rowH, maxH)))
	bg := o.Background
	if bg == nil {
		bg = color.Black
	}
	draw.Draw(out, out.Bounds(), &image.Uniform{bg}, image.Point{}, draw.Src)
	y := o.Margin
	for i, r := range rows {
		x := o.Margin
		for j := range cols {
			if j < len(r) && r[j] != nil {
				b := r[j].Bounds()
				draw.Draw(out, image.Rectangle{Min: image.Pt(x, y), Max: image.Pt(x+b.Dx(), y+b.Dy())}, r[j], b.Min, draw.Src)
			}
			x += colW[j] + o.Gap
		}
		y += rowH[i] + o.Gap
	}
	return out
}

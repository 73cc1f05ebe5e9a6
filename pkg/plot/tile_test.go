package plot

import (
	"image"
	"image/color"
	"testing"
)

func solid(w, h int, c color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestTile(t *testing.T) {
	red, green, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}
	white := color.RGBA{255, 255, 255, 255}
	// Row 0: a 3x2 red and a 1x1 green; row 1: nothing, then a 2x4 blue.
	rows := [][]image.Image{{solid(3, 2, red), solid(1, 1, green)}, {nil, solid(2, 4, blue)}}
	out := Tile(rows, TileOptions{Gap: 1, Margin: 2, Background: white})
	// Columns 3 and 2 wide, rows 2 and 4 tall: 2+3+1+2+2 = 10 by 2+2+1+4+2 = 11.
	if b := out.Bounds(); b.Dx() != 10 || b.Dy() != 11 {
		t.Fatalf("Tile is %v, want 10x11", b)
	}
	for _, c := range []struct {
		x, y int
		want color.RGBA
	}{
		{0, 0, white}, {1, 1, white}, // margin
		{2, 2, red}, {4, 3, red}, // the red image
		{5, 2, white},                // gap after column 0
		{6, 2, green}, {7, 2, white}, // the green one, then the rest of its cell
		{6, 3, white},                // below the green one
		{2, 5, white}, {4, 8, white}, // the empty cell
		{6, 5, blue}, {7, 8, blue}, // the blue image
		{8, 8, white}, {7, 9, white}, // margin right and below
	} {
		if got := out.At(c.x, c.y).(color.RGBA); got != c.want {
			t.Errorf("pixel (%d, %d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	// One column of images of different heights, no margin, default black: a stack.
	st := Tile([][]image.Image{{solid(2, 1, red)}, {solid(4, 2, green)}}, TileOptions{Gap: 3})
	if b := st.Bounds(); b.Dx() != 4 || b.Dy() != 6 {
		t.Fatalf("stack is %v, want 4x6", b)
	}
	if got := st.At(3, 0).(color.RGBA); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("stack background %v, want black", got)
	}
	if got := st.At(3, 5).(color.RGBA); got != green {
		t.Errorf("stack pixel (3, 5) = %v, want green", got)
	}
	// A column with no image takes the largest size; no images at all give an empty image.
	blank := Tile([][]image.Image{{nil, solid(2, 2, red)}}, TileOptions{})
	if b := blank.Bounds(); b.Dx() != 4 || b.Dy() != 2 {
		t.Errorf("Tile with an empty column is %v, want 4x2", b)
	}
	if b := Tile([][]image.Image{{nil}}, TileOptions{}).Bounds(); !b.Empty() {
		t.Errorf("Tile of nothing is %v, want empty", b)
	}
}

package status

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// stripColours are the fills of the strips (status.html.tmpl), by class.
var stripColours = map[string][3]uint8{
	"up": {0x2d, 0xa4, 0x4e}, "gap": {0xd8, 0xde, 0xe4},
	"r-timeout": {0xcf, 0x22, 0x2e}, "r-refused": {0x82, 0x50, 0xdf}, "r-dns": {0xbf, 0x39, 0x89},
	"r-tls": {0xbc, 0x4c, 0x00}, "r-check": {0xd4, 0xa7, 0x2c}, "r-other": {0x57, 0x60, 0x6a},
}

// colourClass names the strip colour of a pixel, "" for any other.
func colourClass(img image.Image, x, y int) string {
	r, g, b, _ := img.At(x, y).RGBA()
	px := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
	for name, c := range stripColours {
		if abs(px[0]-int(c[0])) <= 6 && abs(px[1]-int(c[1])) <= 6 && abs(px[2]-int(c[2])) <= 6 {
			return name
		}
	}
	return ""
}

func abs(i int) int { return max(i, -i) }

// colourRun is a run of pixels (or units) of one strip colour.
type colourRun struct {
	class string
	width float64
}

// stripBands finds the strips in a screenshot: runs of at least 12 rows in
// which most pixels have strip colours (a table border is one row). It
// returns, for each band, the colour runs of its middle row from left to right.
func stripBands(img image.Image) [][]colourRun {
	bounds := img.Bounds()
	var bands [][]colourRun
	first := -1
	flush := func(y int) {
		if first >= 0 && y-first >= 12 {
			bands = append(bands, rowRuns(img, (first+y)/2))
		}
		first = -1
	}
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		n := 0
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if colourClass(img, x, y) != "" {
				n++
			}
		}
		switch {
		case n*10 >= bounds.Dx()*6 && first < 0:
			first = y
		case n*10 < bounds.Dx()*6:
			flush(y)
		}
	}
	flush(bounds.Max.Y)
	return bands
}

func rowRuns(img image.Image, y int) []colourRun {
	var out []colourRun
	for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
		c := colourClass(img, x, y)
		if c == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].class == c {
			out[n-1].width++
			continue
		}
		out = append(out, colourRun{c, 1})
	}
	return out
}

// paint is what a strip should look like: its rectangles painted in the
// order the SVG draws them on a strip of 1000 units, as colour runs in units.
func paint(v stripView) []colourRun {
	cells := make([]string, stripWidth)
	for _, r := range append(append([]stripRect{}, v.Spans...), v.Outages...) {
		var x, w float64
		fmt.Sscan(r.X, &x)
		fmt.Sscan(r.W, &w)
		class := r.Class[strings.LastIndex(r.Class, " ")+1:]
		for i := int(x); i < int(x+w) && i < stripWidth; i++ {
			cells[i] = class
		}
	}
	var out []colourRun
	for _, c := range cells {
		if n := len(out); n > 0 && out[n-1].class == c {
			out[n-1].width++
			continue
		}
		out = append(out, colourRun{c, 1})
	}
	return out
}

// sequence is the colours of the runs at least min wide, adjacent equal
// ones merged, scaled from total to pixels wide.
func sequence(runs []colourRun, scale, minWidth float64) []string {
	var out []string
	for _, r := range runs {
		if r.width*scale < minWidth {
			continue
		}
		if n := len(out); n == 0 || out[n-1] != r.class {
			out = append(out, r.class)
		}
	}
	return out
}

// subsequence reports whether every element of a appears in b, in order.
func subsequence(a, b []string) bool {
	i := 0
	for _, x := range b {
		if i < len(a) && a[i] == x {
			i++
		}
	}
	return i == len(a)
}

// sameStructure compares a strip in the screenshot with the painted model,
// tolerating what rounding to pixels does to narrow runs: every run of the
// model at least 4 pixels wide must show, in order, among the screenshot's
// runs of 2 pixels or more; every run of the screenshot at least 4 pixels
// wide must be in the model.
func sameStructure(got, want []colourRun) error {
	total := 0.0
	for _, r := range got {
		total += r.width
	}
	scale := total / stripWidth
	wantSure, gotSome := sequence(want, scale, 4), sequence(got, 1, 2)
	gotSure, wantSome := sequence(got, 1, 4), sequence(want, scale, 0)
	if !subsequence(wantSure, gotSome) || !subsequence(gotSure, wantSome) {
		return fmt.Errorf("screenshot shows %v (wide runs %v), the SVG draws %v (wide runs %v)", gotSome, gotSure, wantSome, wantSure)
	}
	return nil
}

// TestStatusPageTimelineChromium renders the sample page, whose paths have
// an hour's and a day's history, in headless Chromium at a laptop's and a
// phone's width. The screenshot is compared for structure, not pixels: it
// must show one band per strip, in the page's order, each with the colours
// the SVG paints from left to right (sameStructure). The DOM must hold every outage of the
// log as a rectangle with its start, end and reason, and its tooltip.
func TestStatusPageTimelineChromium(t *testing.T) {
	chromium := needTool(t, "install Chromium (apt-get install -y chromium) to render the status page",
		"chromium", "chromium-browser")
	report := sampleReport()
	var want [][]colourRun
	for _, p := range report.Paths {
		for _, tl := range p.Timelines {
			want = append(want, paint(strip(p, tl, report.GeneratedAt)))
		}
	}
	if got := sequence(want[0], 1, 1); !cmp.Equal(got, []string{"up", "r-timeout", "up", "r-refused", "up", "r-timeout"}) {
		t.Fatalf("clusterip's hour should show its blip, its outage and the ongoing one; the fixture gives %v", got)
	}
	url := serveSample(t, report)
	for _, size := range [][2]int{{1200, 2600}, {390, 4200}} {
		width := size[0]
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			args := func() []string {
				return []string{
					"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
					"--disable-component-update", "--no-first-run", "--hide-scrollbars",
					"--user-data-dir=" + t.TempDir(), fmt.Sprintf("--window-size=%d,%d", width, size[1]),
				}
			}
			shot := filepath.Join(artifactsDir(t), fmt.Sprintf("status-page-history-%d.png", width))
			os.Remove(shot)
			run(t, chromium, append(args(), "--screenshot="+shot, url)...)
			f, err := os.Open(shot)
			if err != nil {
				t.Fatalf("chromium wrote no screenshot: %v", err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("screenshot is not a PNG: %v", err)
			}
			t.Logf("screenshot: %s", shot)
			bands := stripBands(img)
			if len(bands) != len(want) {
				t.Errorf("the screenshot shows %d strips, the page has %d", len(bands), len(want))
			}
			for i := range min(len(bands), len(want)) {
				if err := sameStructure(bands[i], want[i]); err != nil {
					t.Errorf("strip %d from the top: %v", i+1, err)
				}
			}

			dom := string(run(t, chromium, append(args(), "--dump-dom", url)...))
			checkStripDOM(t, dom, report)
		})
	}
}

var (
	svgRE    = regexp.MustCompile(`(?s)<svg class="strip" data-path="([^"]+)" data-window="([^"]+)".*?</svg>`)
	outageRE = regexp.MustCompile(`(?s)<rect class="outage [^"]*"[^>]*data-start="([^"]*)" data-end="([^"]*)" data-reason="([^"]*)"><title>(.*?)</title>`)
)

// checkStripDOM checks that every strip of the report is in the DOM with
// the outages of its window, oldest first, and their tooltips.
func checkStripDOM(t *testing.T, dom string, report Report) {
	t.Helper()
	type outage struct{ Start, End, Reason, Title string }
	got := map[string][]outage{}
	for _, m := range svgRE.FindAllStringSubmatch(dom, -1) {
		key := m[1] + "/" + m[2]
		got[key] = []outage{}
		for _, o := range outageRE.FindAllStringSubmatch(m[0], -1) {
			got[key] = append(got[key], outage{o[1], o[2], o[3], strings.ReplaceAll(o[4], "&amp;", "&")})
		}
	}
	want := map[string][]outage{}
	for _, p := range report.Paths {
		for _, tl := range p.Timelines {
			v := strip(p, tl, report.GeneratedAt)
			key := p.Name + "/" + tl.Window
			want[key] = []outage{}
			for _, r := range v.Outages {
				want[key] = append(want[key], outage{r.Start, r.End, r.Reason, r.Title})
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("strips and outages in the DOM (-want +got):\n%s", diff)
	}
	if n := len(got["clusterip/"+WindowHour]); n != 3 {
		t.Errorf("clusterip's hour strip holds %d outages, want 3", n)
	}
}

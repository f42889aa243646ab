package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/provision"
)

// phases in the order a node goes through them, with the names progress shows.
var phases = []struct {
	phase provision.Phase
	name  string
}{
	{provision.PhaseVM, "VM"},
	{provision.PhaseAddress, "address"},
	{provision.PhaseSSH, "SSH"},
	{provision.PhaseDocker, "Docker"},
	{provision.PhaseKubernetes, "Kubernetes"},
}

func phaseIndex(p provision.Phase) int {
	for i, ph := range phases {
		if ph.phase == p {
			return i
		}
	}
	return -1
}

// progress shows what a driver call does. It is the rke logger on the call's context (the driver's
// and RKE's messages) and is told every checkpointed state, from which it draws one line per node
// with the time each phase was reached. On a terminal the node lines are redrawn in place below the
// step messages; otherwise every message and every phase a node reaches is one plain log line.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width int // terminal columns; 0 when unknown
	debug bool
	start time.Time

	order   []string
	nodes   map[string]*nodeProgress
	status  string // the latest message, shown under the node lines on a terminal
	drawn   int    // lines of the live block on screen
	spin    int
	stopped bool
	final   bool // the last node lines are drawn for good
	stop    chan struct{}
	done    chan struct{}
}

type nodeProgress struct {
	node provision.Node
	// at is when each phase was reached, since start; negative for phases reached before this run.
	at map[provision.Phase]time.Duration
}

func newProgress(w io.Writer, tty bool, width int, debug bool) *progress {
	p := &progress{w: w, tty: tty, width: width, debug: debug, start: time.Now(),
		nodes: map[string]*nodeProgress{}, stop: make(chan struct{}), done: make(chan struct{})}
	if tty {
		go p.tick()
	} else {
		close(p.done)
	}
	return p
}

// tick redraws the live block so elapsed times and the spinner move while nothing is logged.
func (p *progress) tick() {
	defer close(p.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.spin++
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// finish stops the live display, leaving the final node lines on screen.
func (p *progress) finish() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	close(p.stop)
	p.mu.Unlock()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = ""
	p.redraw()
	p.drawn = 0 // the final block stays
	p.final = true
}

// elapsed is the time since the command started.
func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

func (p *progress) Debugf(format string, args ...interface{}) {
	if p.debug {
		p.message("debug: ", fmt.Sprintf(format, args...), true)
	}
}

func (p *progress) Infof(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	// The driver's own steps stay on screen; RKE's and the nodes' chatter only passes through the
	// status line on a terminal.
	p.message("", msg, strings.HasPrefix(msg, "[harvesterrke]"))
}

func (p *progress) Warnf(format string, args ...interface{}) {
	p.message("warning: ", fmt.Sprintf(format, args...), true)
}

// printf writes a line that stays (e.g. the final summary), above the live block.
func (p *progress) printf(format string, args ...interface{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format+"\n", args...)
	p.redraw()
}

func (p *progress) message(prefix, msg string, keep bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg = printable(strings.TrimRight(msg, "\n"))
	if !p.tty {
		for _, line := range strings.Split(msg, "\n") {
			fmt.Fprintf(p.w, "[%7s] %s%s\n", clock(p.elapsed()), prefix, line)
		}
		return
	}
	if keep {
		p.clear()
		for _, line := range strings.Split(msg, "\n") {
			fmt.Fprintf(p.w, "%7s  %s%s\n", clock(p.elapsed()), prefix, line)
		}
	} else {
		first, _, _ := strings.Cut(msg, "\n")
		p.status = first
	}
	p.redraw()
}

// seed takes the nodes as they were before the command: their phases were reached earlier (e.g.
// by the create this one resumes).
func (p *progress) seed(nodes []provision.Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.update(nodes, -1)
}

// checkpoint takes the nodes of a checkpointed state.
func (p *progress) checkpoint(nodes []provision.Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.update(nodes, p.elapsed())
}

// update records the phases nodes reached at now. Callers hold mu.
func (p *progress) update(nodes []provision.Node, now time.Duration) {
	seen := map[string]bool{}
	for _, n := range nodes {
		seen[n.Name] = true
		np := p.nodes[n.Name]
		if np == nil {
			np = &nodeProgress{at: map[provision.Phase]time.Duration{}}
			p.nodes[n.Name] = np
			p.order = append(p.order, n.Name)
		}
		np.node = n
		for i := 0; i <= phaseIndex(n.Phase); i++ {
			ph := phases[i].phase
			if _, ok := np.at[ph]; ok {
				continue
			}
			np.at[ph] = now
			if !p.tty && now >= 0 {
				fmt.Fprintf(p.w, "[%7s] %s (%s): %s%s\n", clock(now), n.Name, n.Pool, phases[i].name, addressNote(ph, n.Address))
			}
		}
	}
	kept := p.order[:0]
	for _, name := range p.order {
		if seen[name] {
			kept = append(kept, name)
		} else {
			delete(p.nodes, name)
		}
	}
	p.order = kept
	p.redraw()
}

func addressNote(ph provision.Phase, addr string) string {
	if ph == provision.PhaseAddress && addr != "" {
		return " " + addr
	}
	return ""
}

// clear erases the live block. Callers hold mu.
func (p *progress) clear() {
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\r\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// redraw replaces the live block with the current node lines and status. Callers hold mu.
func (p *progress) redraw() {
	if !p.tty || p.final {
		return
	}
	p.clear()
	var lines []string
	nameW, poolW := 0, 0
	for _, name := range p.order {
		n := p.nodes[name].node
		nameW, poolW = max(nameW, len(n.Name)), max(poolW, len(n.Pool))
	}
	for _, name := range p.order {
		lines = append(lines, p.nodeLine(p.nodes[name], nameW, poolW))
	}
	if p.status != "" || !p.stopped {
		frames := `|/-\`
		lines = append(lines, fmt.Sprintf("%c %s  %s", frames[p.spin%len(frames)], clock(p.elapsed()), p.status))
	}
	for _, l := range lines {
		fmt.Fprintln(p.w, truncate(l, p.width))
	}
	p.drawn = len(lines)
}

func (p *progress) nodeLine(np *nodeProgress, nameW, poolW int) string {
	n := np.node
	var steps []string
	last := phaseIndex(n.Phase)
	for i, ph := range phases {
		at, ok := np.at[ph.phase]
		switch {
		case ok && at < 0:
			steps = append(steps, ph.name+" ok")
		case ok:
			steps = append(steps, ph.name+" "+clock(at))
		case i == last+1 && !p.stopped:
			steps = append(steps, ph.name+"...")
		}
	}
	return fmt.Sprintf("  %-*s  %-*s  %-15s  %s", nameW, n.Name, poolW, n.Pool, n.Address, strings.Join(steps, " > "))
}

// truncate shortens a line to the terminal width, so each line takes exactly one row and the
// block can be erased by moving up as many rows.
func truncate(s string, width int) string {
	if width <= 1 || utf8.RuneCountInString(s) < width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1])
}

// clock formats a duration for progress: 0.4s, 12.3s, 2m05s.
func clock(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// printable drops the control characters of a message (other than line breaks and tabs): messages
// carry what nodes print, and escape sequences from a node must not drive the user's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, s)
}

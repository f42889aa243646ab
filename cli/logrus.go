package cli

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// RKE logs some messages through logrus' standard logger rather than the context's logger. During
// a command they go to its progress: on stderr they would tear the terminal display.
var (
	logrusTarget atomic.Pointer[progress]
	logrusOnce   sync.Once
)

type logrusHook struct{}

func (logrusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (logrusHook) Fire(e *logrus.Entry) error {
	p := logrusTarget.Load()
	if p == nil {
		return nil
	}
	switch e.Level {
	case logrus.TraceLevel, logrus.DebugLevel:
		p.Debugf("%s", e.Message)
	case logrus.InfoLevel:
		p.Infof("%s", e.Message)
	default:
		p.Warnf("%s", e.Message)
	}
	return nil
}

// routeLogrus sends logrus' standard logger to p until restore is called.
func routeLogrus(p *progress) (restore func()) {
	logrusOnce.Do(func() { logrus.AddHook(logrusHook{}) })
	l := logrus.StandardLogger()
	out, level := l.Out, l.GetLevel()
	l.SetOutput(io.Discard)
	if p.debug {
		l.SetLevel(logrus.DebugLevel)
	}
	logrusTarget.Store(p)
	return func() {
		logrusTarget.Store(nil)
		l.SetOutput(out)
		l.SetLevel(level)
	}
}

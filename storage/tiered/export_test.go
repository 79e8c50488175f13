package tiered

// ActiveBase is the base offset of the local active segment (tests).
func (l *Log) ActiveBase() int64 { return l.seg.ActiveSegment().Base }

// ActiveSize is the bytes of the local active segment (tests).
func (l *Log) ActiveSize() int64 { return l.seg.ActiveSegment().Size }

// EagerSent is how many bytes of the active segment eager parts sent.
func (l *Log) EagerSent() int64 {
	if l.eagerBase.Load() != l.ActiveBase() {
		return 0
	}
	return l.eagerSent.Load()
}

package abs

import "sync/atomic"

// imageSet is one immutable snapshot of the managed images. The
// orchestrator swaps the whole set when the images change, so a step
// that took a snapshot (or a *Image from one) reads a consistent view
// while the set is replaced under it.
type imageSet struct {
	list   []Image
	byName map[string]*Image
}

func newImageSet(images []Image) *imageSet {
	s := &imageSet{list: images, byName: make(map[string]*Image, len(images))}
	for i := range s.list {
		s.byName[s.list[i].Name] = &s.list[i]
	}
	return s
}

// imageSnapshot holds the current set.
type imageSnapshot struct{ p atomic.Pointer[imageSet] }

func (s *imageSnapshot) load() *imageSet {
	if set := s.p.Load(); set != nil {
		return set
	}
	return newImageSet(nil)
}

func (s *imageSnapshot) store(set *imageSet) { s.p.Store(set) }

// fleetImages returns the current managed images. The slice and its
// elements must not be modified.
func (o *Orchestrator) fleetImages() []Image { return o.imgs.load().list }

// image returns the managed image with the given name, or nil when there
// is none (any more).
func (o *Orchestrator) image(name string) *Image { return o.imgs.load().byName[name] }

// imageByNameOrRepository returns the managed image with the given name
// or, failing that, the first one published to the given repository.
func (o *Orchestrator) imageByNameOrRepository(s string) *Image {
	set := o.imgs.load()
	if img := set.byName[s]; img != nil {
		return img
	}
	for i := range set.list {
		if set.list[i].Repository == s {
			return &set.list[i]
		}
	}
	return nil
}

// imageRef returns the "repository:tag" of the named image, or the name
// itself when the image was removed meanwhile.
func (o *Orchestrator) imageRef(name string) string {
	if img := o.image(name); img != nil {
		return img.Ref()
	}
	return name
}

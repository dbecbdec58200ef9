package simulator

// spawnUsers starts virtual users up to cfg.Load.Users, each at a random
// point of a think time so they do not all send at once. Fewer users than
// looping stop one by one as their requests are answered (see answered).
func (s *Shop) spawnUsers() {
	for s.users < s.cfg.Load.Users {
		s.users++
		s.eng.schedule(s.eng.now+s.rng.Float64()*s.cfg.Load.ThinkMs/1000, evUser, -1, s.userGen)
	}
}

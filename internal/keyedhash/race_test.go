//go:build race

package keyedhash

const raceEnabled = true

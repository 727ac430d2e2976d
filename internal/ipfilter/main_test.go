package ipfilter

import (
	"testing"

	"palisade/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

//go:build !race

package quant

const raceBuild = false

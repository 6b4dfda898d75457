package plan

// FormatVersion is the version of hecc's files. A spec lists the rotation
// keys its plan needs, so a change of plan (another form, split or block
// sum for the same graph) changes the keys a file set holds and must bump
// the version, so that older files are refused with a clear message rather
// than mismatching at load. TestPlanChangeBumpsFormatVersion holds it to
// that.
//
// Version 3: a map after a hybrid one, and the hybrid form's block sum,
// take other rotations than in version 2. Version 4: every header carries
// the key set id, a circuit ends with the SHA-256 of its contents, and
// the first affine map projects the input onto its layout (its
// conjugation and trace keys). Version 5: between baby-step giant-step
// splits of equal cost the one with fewer keys is taken. Version 6: a
// hybrid map's copies pass through sums and products (composite ReLUs),
// and a standard map reading a repeating input may repeat its diagonals
// (Linear.Repeats), so that the map after it takes another period.
const FormatVersion byte = 6

// planDigests records, for each format version since they are kept, the
// SHA-256 of the golden plans it was set for: the `== plan` sections of
// compiler/testdata/golden. TestPlanChangeBumpsFormatVersion recomputes it.
var planDigests = map[byte]string{
	3: "ab19b3ad8fc3df322d9b89b9599c5ddc123dba1f4941830aa073c5d1f79ae732",
	4: "9a15ae58942973fae3e7fd9a2002c91bdf7f15c1082a0a060f9af35ad46c3aec",
	5: "2d52eab5017dffb347da08f8bfd145037468e2a62a717bf09a23df4d12086aec",
	6: "fb3c003dea2a9b2d51e4dfac62b976767663d5103226ac1dcf37b5475647b5a7",
}

package delivery

import (
	"strings"

	"github.com/authsvc/authsvc/internal/locale"
)

// PhraseWords is the number of words a phrase draws from.
const PhraseWords = 32

// phraseWords are the words of the phrase the DM text and the customer's page both
// show (mutual verification), in each locale: the same 32 things in the same
// order, so that a phrase is the same two things in every language. They are
// short, concrete, unambiguous words that a person reads at a glance.
var phraseWords = map[string][PhraseWords]string{
	"en": {"apple", "river", "tiger", "moon", "cloud", "lemon", "forest", "rabbit", "ocean", "candle", "garden", "eagle", "piano", "island", "orange", "violin",
		"mountain", "dolphin", "pepper", "rocket", "castle", "desert", "horse", "star", "bread", "honey", "snow", "turtle", "coffee", "lion", "flower", "train"},
	"es": {"manzana", "río", "tigre", "luna", "nube", "limón", "bosque", "conejo", "océano", "vela", "jardín", "águila", "piano", "isla", "naranja", "violín",
		"montaña", "delfín", "pimienta", "cohete", "castillo", "desierto", "caballo", "estrella", "pan", "miel", "nieve", "tortuga", "café", "león", "flor", "tren"},
	"fr": {"pomme", "rivière", "tigre", "lune", "nuage", "citron", "forêt", "lapin", "océan", "bougie", "jardin", "aigle", "piano", "île", "orange", "violon",
		"montagne", "dauphin", "poivre", "fusée", "château", "désert", "cheval", "étoile", "pain", "miel", "neige", "tortue", "café", "lion", "fleur", "train"},
	"de": {"Apfel", "Fluss", "Tiger", "Mond", "Wolke", "Zitrone", "Wald", "Hase", "Ozean", "Kerze", "Garten", "Adler", "Klavier", "Insel", "Orange", "Geige",
		"Berg", "Delfin", "Pfeffer", "Rakete", "Burg", "Wüste", "Pferd", "Stern", "Brot", "Honig", "Schnee", "Schildkröte", "Kaffee", "Löwe", "Blume", "Zug"},
	"pt-BR": {"maçã", "rio", "tigre", "lua", "nuvem", "limão", "floresta", "coelho", "oceano", "vela", "jardim", "águia", "piano", "ilha", "laranja", "violino",
		"montanha", //nolint:misspell // Portuguese for mountain, not a misspelling of "montana".
		"golfinho", "pimenta", "foguete", "castelo", "deserto", "cavalo", "estrela", "pão", "mel", "neve", "tartaruga", "café", "leão", "flor", "trem"},
	"it": {"mela", "fiume", "tigre", "luna", "nuvola", "limone", "foresta", "coniglio", "oceano", "candela", "giardino", "aquila", "pianoforte", "isola", "arancia", "violino",
		"montagna", "delfino", "pepe", "razzo", "castello", "deserto", "cavallo", "stella", "pane", "miele", "neve", "tartaruga", "caffè", "leone", "fiore", "treno"},
	"ar": {"تفاحة", "نهر", "نمر", "قمر", "سحابة", "ليمون", "غابة", "أرنب", "محيط", "شمعة", "حديقة", "نسر", "بيانو", "جزيرة", "برتقال", "كمان",
		"جبل", "دلفين", "فلفل", "صاروخ", "قلعة", "صحراء", "حصان", "نجمة", "خبز", "عسل", "ثلج", "سلحفاة", "قهوة", "أسد", "زهرة", "قطار"},
	"ja": {"りんご", "かわ", "とら", "つき", "くも", "レモン", "もり", "うさぎ", "うみ", "ろうそく", "にわ", "わし", "ピアノ", "しま", "オレンジ", "バイオリン",
		"やま", "イルカ", "こしょう", "ロケット", "おしろ", "さばく", "うま", "ほし", "パン", "はちみつ", "ゆき", "かめ", "コーヒー", "ライオン", "はな", "でんしゃ"},
}

// PhraseIndexes turns 2 bytes of a keyed hash into the indexes of a phrase's two
// words: two different words of the PhraseWords.
func PhraseIndexes(b0, b1 byte) [2]int {
	i := int(b0) % PhraseWords
	j := (i + 1 + int(b1)%(PhraseWords-1)) % PhraseWords
	return [2]int{i, j}
}

// Phrase returns the two words of idx in the locale MatchLocale(tag) picks, and
// that locale's name (the phrase's language, for a page's lang attribute). Words
// are joined by a space, or by a middle dot in Japanese, which has no spaces.
// An index out of range gives "".
func Phrase(tag string, idx [2]int) (phrase, lang string) {
	lang = MatchLocale(tag)
	for _, i := range idx {
		if i < 0 || i >= PhraseWords {
			return "", lang
		}
	}
	w := phraseWords[lang]
	sep := " "
	if l, _ := locale.Exact(lang); l.Name == "ja" {
		sep = "・"
	}
	return strings.Join([]string{w[idx[0]], w[idx[1]]}, sep), lang
}

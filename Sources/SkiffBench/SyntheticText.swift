/// English-like filler text of an approximate length in tokens, made from a fixed list of common
/// words, for benchmarks that need prompts of a given size rather than meaningful ones.
///
/// The length is an estimate: English text runs about 0.75 words per token under the BPE
/// tokenizers of GPT-2, Llama and their descendants, so `tokens` tokens become
/// `round(0.75 × tokens)` words, in sentences of 8 to 15 words. The server's own count differs by
/// model and chat template; the report shows the prompt tokens that the server's `usage` reports.
public enum SyntheticText {
    /// The words-per-token ratio assumed for English text under BPE tokenizers.
    public static let wordsPerToken = 0.75

    /// Text of about `tokens` tokens (empty for 0 or less). The same `variant` always gives the
    /// same text; different variants differ from their first word on, so that one request's prompt
    /// is not a prefix-cache hit for another's.
    public static func text(tokens: Int, variant: UInt64) -> String {
        let wordCount = tokens > 0 ? max(1, Int((Double(tokens) * wordsPerToken).rounded())) : 0
        var generator = SeededGenerator(seed: variant)
        var text = ""
        var sentenceLeft = 0
        for index in 0..<wordCount {
            var word = words[Int(generator.next() % UInt64(words.count))]
            if sentenceLeft == 0 {
                sentenceLeft = 8 + Int(generator.next() % 8)
                word = word.prefix(1).uppercased() + word.dropFirst()
                if index > 0 { text += " " }
            } else {
                text += " "
            }
            text += word
            sentenceLeft -= 1
            if sentenceLeft == 0 || index == wordCount - 1 {
                text += "."
                sentenceLeft = 0
            }
        }
        return text
    }

    /// Common English words, most of them a single token in BPE vocabularies.
    static let words: [String] = """
        time year people way day man thing woman life child world school state family student group \
        country problem hand part place case week company system program question work government \
        number night point home water room mother area money story fact month lot right study book \
        eye job word business issue side kind head house service friend father power hour game line \
        end member law car city community name president team minute idea kid body information back \
        parent face others level office door health person art war history party result change \
        morning reason research girl guy moment air teacher force education river garden window \
        mountain market letter picture music village winter summer bridge island forest harbor \
        be have do say get make go know take see come think look want give use find tell ask seem \
        feel try leave call keep let begin help show hear play run move live believe bring happen \
        write provide sit stand lose pay meet include continue set learn lead understand watch follow \
        stop create speak read spend grow open walk win offer remember love consider appear buy wait \
        serve die send expect build stay fall cut reach remain suggest raise pass sell require report \
        good new first last long great little own other old big high different small large next early \
        young important few public bad same able late hard major better economic strong possible \
        whole free military true federal local sure clear recent certain personal open red difficult \
        quiet bright careful simple warm green quick gentle ancient narrow \
        about after again always around before between during often only perhaps really still then \
        today together usually very while within without already almost also because however
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}

import { createRequire } from 'node:module';
import type Nlp from 'compromise';

/**
 * Word lists for the person-name recognizer, taken from compromise's lexicon (≈3,000 first names,
 * ≈900 surnames, places, organisations and ≈20,000 ordinary English words), plus short lists of our
 * own: honorifics, words that make a capitalised run a thing rather than a person, and common
 * first names and surnames from languages compromise covers thinly (German, Nordic, Slavic,
 * Romance, Turkish). Built on first use (`loadNameLexicon`), not at import: loading compromise
 * and reading its lexicon take ~0.5 s, which a CLI command that never scans text should not pay.
 */
const NAME_TAGS = new Set(['FirstName', 'MaleName', 'FemaleName']);
const PLACE_TAGS = new Set(['City', 'Country', 'Region', 'Place', 'Organization', 'SportsTeam', 'Demonym']);

export const firstNames = new Set<string>();
export const lastNames = new Set<string>();
export const places = new Set<string>();
/** Lower-cased words that are ordinary vocabulary: a capitalised one is not evidence of a name. */
export const common = new Set<string>();

const require = createRequire(import.meta.url);
let nlp: typeof Nlp | undefined;

/** compromise, loaded on first use (its one-file CommonJS build loads in about half the time of its ES modules). */
export function compromise(): typeof Nlp {
  nlp ??= require('compromise') as typeof Nlp;
  return nlp;
}

let loaded = false;

/** Fills the name, place and common-word sets once; the recognizers call it before reading them. */
export function loadNameLexicon(): void {
  if (loaded) return;
  loaded = true;
  const lexicon = (compromise().model() as { one: { lexicon: Record<string, string | string[]> } }).one
    .lexicon;
  for (const [word, tag] of Object.entries(lexicon)) {
    if (word.includes(' ')) continue;
    const tags = Array.isArray(tag) ? tag : [tag];
    if (tags.some((t) => NAME_TAGS.has(t))) firstNames.add(word);
    else if (tags.includes('LastName')) lastNames.add(word);
    else if (tags.some((t) => PLACE_TAGS.has(t))) places.add(word);
    else if (!tags.includes('Person')) common.add(word);
  }
  for (const w of EXTRA_FIRST.split(' ')) firstNames.add(w);
  for (const w of EXTRA_LAST.split(' ')) lastNames.add(w);
}

const EXTRA_FIRST =
  'hans jürgen klaus uwe dieter wolfgang helmut günter günther horst manfred bernd jörg sven lars jens dirk heinz karl-heinz ingrid ursula brigitte renate monika sabine petra heike anke silke katrin birgit gisela helga dagmar jutta gudrun annette ulrike stefanie tobias florian matthias lukas jonas felix moritz niklas leonie lena mia hannah emilia marie sophie johanna friederike magnus nils björn sigrid astrid ingrid solveig kari knut terje mette kirsten søren jørgen henrik anders lasse mikko jukka pekka matti sanna aino eino juha tuomas ville päivi tiina jan piotr krzysztof tomasz paweł łukasz michał agnieszka katarzyna małgorzata joanna magdalena zofia jakub wojciech dmitri dmitry sergei sergey vladimir nikolai natalia olga svetlana tatiana irina yulia oksana ivan mikhail alexei ekaterina anastasia jiří petr pavel tomáš lucie veronika jana zuzana lászló istván zoltán gábor ferenc katalin zsuzsanna erzsébet éva andrás giuseppe giovanni francesco antonio alessandro lorenzo matteo giulia chiara francesca alessandra federica paolo luca marco andrea josé juan carlos javier miguel alejandro pablo sergio lucía carmen pilar rocío mercedes joão pedro tiago rui ana beatriz inês françois jean-pierre jean-luc pierre jacques philippe sébastien amélie camille chloé élodie mathilde mehmet mustafa ahmet ayşe fatma emine zeynep elif hüseyin murat yusuf ali hasan';
const EXTRA_LAST =
  'müller mueller schmidt schneider fischer weber meyer meier wagner becker schulz hoffmann schäfer schaefer koch bauer richter klein schröder schroeder neumann schwarz zimmermann braun krüger hofmann hartmann lange schmitt werner schmitz krause lehmann schmid schulze maier köhler herrmann könig walter mayer huber kaiser fuchs peters lang scholz möller weiß weiss jung hahn vogel friedrich keller günther berger frank roth beck lorenz baumann franke albrecht ludwig winter kraus martin schumacher krämer vogt stein jäger otto sommer groß seidel heinrich brandt haas schreiber graf schulte dietrich ziegler kuhn kühn pohl engel horn busch bergmann thomas voigt sauer arnold wolff pfeiffer hansen johansen nielsen jensen pedersen larsen sørensen rasmussen christensen andersen olsen karlsson nilsson eriksson larsson olsson persson svensson gustafsson pettersson jonsson lindberg lindqvist virtanen korhonen mäkinen nieminen mäkelä hämäläinen laine heikkinen koskinen järvinen nowak kowalski wiśniewski wójcik kowalczyk kamiński lewandowski zieliński szymański woźniak dąbrowski ivanov ivanova smirnov smirnova kuznetsov kuznetsova popov popova petrov petrova sokolov volkov novák svoboda novotný dvořák černý procházka kučera nagy kovács tóth szabó horváth varga kiss molnár németh farkas rossi russo ferrari esposito bianchi romano colombo ricci marino greco bruno gallo conti costa giordano mancini rizzo lombardi moretti garcía garcia fernández fernandez gonzález gonzalez rodríguez rodriguez lópez lopez martínez martinez sánchez sanchez pérez perez gómez gomez díaz diaz silva santos oliveira souza pereira ferreira alves ribeiro carvalho dupont durand dubois moreau laurent lefebvre leroy roux fournier girard bonnet yılmaz yilmaz kaya demir şahin çelik yıldız öztürk aydın özdemir arslan doğan kılıç';

export const honorifics = new Set(
  'mr mrs ms miss mx dr prof professor sir dame lord lady madam madame mme mlle monsieur herr frau fräulein sr sra srta sig sig.ra rev fr father sister brother capt captain col lt sgt gen judge justice senator sen rep gov president mayor dean coach uncle aunt auntie grandma grandpa'.split(
    ' ',
  ),
);

/** Words that, right after a capitalised run, make it an organisation, place, work or product. */
export const thingWords = new Set(
  'inc inc. corp corp. corporation co co. company ltd ltd. llc gmbh ag plc sa s.a. nv bv group holdings partners associates foundation institute institution university college school academy hospital clinic bank capital fund trust agency council committee commission ministry department office bureau authority association society club league team fc united orchestra band choir ensemble records studios pictures films media press news times post journal weekly daily magazine review gazette tribune herald radio tv channel network street st avenue ave road rd boulevard blvd lane drive square park river lake mountain mount island islands bay beach valley airport station hotel resort center centre mall market tower bridge castle palace church cathedral museum gallery theatre theater stadium arena hall award awards prize cup championship festival conference summit agreement treaty act law accords doctrine syndrome disease effect theorem equation principle rule wall gate project program programme protocol system systems software technologies technology labs lab solutions services industries motors airlines airways railway railways pharmaceuticals edition series pro max plus mini ultra air app apps cloud engine framework library store shop restaurant cafe bar kitchen brewery winery'.split(
    ' ',
  ),
);

/** Capitalised words that start sentences or headings and are never names. Complements `common`. */
export const stopCaps = new Set(
  "i i'm i've i'll i'd a an the this that these those there here then than it its it's he she we they you your my our their his her him them me us hi hello hey dear thanks thank please yes no not ok okay oh wow yeah hmm well so and or but if when while where what which who whom whose why how because since after before during until unless although though also just only even still again maybe perhaps however therefore moreover furthermore meanwhile otherwise instead anyway indeed actually basically honestly seriously finally first second third next last today tomorrow yesterday tonight now soon later never always sometimes often usually monday tuesday wednesday thursday friday saturday sunday january february march april may june july august september october november december mon tue wed thu fri sat sun jan feb mar apr jun jul aug sep sept oct nov dec am pm ich du er sie es wir ihr der die das ein eine einer eines dem den des und oder aber wenn weil dass ob wie was wer wo wann warum nicht kein keine mein meine dein deine sein seine ihre unser euer hallo liebe lieber danke bitte ja nein doch auch noch schon nur sehr mit von zu bei nach aus für über unter vor hinter neben zwischen gegen ohne um le la les un une des et ou mais el los las y o pero il lo gli e ma god lord jesus christ allah internet email e-mail web website online phone user bot assistant system admin customer client team support service name address info information details contact note notes phone mobile fax email website profile account summary personal subject date time".split(
    ' ',
  ),
);

// Suffixes of ordinary English nouns and adjectives that names practically never carry.
const COMMON_SUFFIX =
  /(?:ment|ments|tion|tions|sion|sions|ness|ity|ities|ism|isms|ship|ships|ance|ances|ence|ences|able|ible|ful|ous|ive|ives|ing|ings|ally|ically|ology|ography|ware|work|works|ers|ies|ics|onal|ical|ual|ary|ory|ure|ures|ated|ized|ised|less|ward|wards)$/;

export function isCommonWord(lower: string): boolean {
  loadNameLexicon();
  return common.has(lower) || stopCaps.has(lower) || (lower.length > 4 && COMMON_SUFFIX.test(lower));
}

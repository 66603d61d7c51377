/**
 * Injection heuristics over folded text (lower case, no diacritics: "zurück" is "zuruck"). Each rule
 * has a category and a weight; matched weights combine as a noisy-OR, so one strong signal or a
 * few weak ones reach the threshold. English and German, with instruction overrides in French,
 * Spanish and Italian too. Rules describe attack *techniques*, not particular attack texts.
 */

export type RuleCategory =
  | 'instruction_override'
  | 'role_hijack'
  | 'prompt_extraction'
  | 'fake_delimiter'
  | 'jailbreak_marker'
  | 'output_hijack';

export interface Rule {
  id: string;
  category: RuleCategory;
  weight: number;
  /**
   * Cheap pre-check: the rule is only tried when one of these occurs. Plain lower-case words are
   * matched as word prefixes (first four letters; shorter ones as whole words); anything with
   * other characters is matched as a substring.
   */
  need: readonly string[];
  re: RegExp;
}

const G = '[^.!?\\n]'; // within one clause
/** A determiner and a noun that is not the assistant itself: "an app", "the default app", "all apps". */
const OTHER_OWNER =
  '(?:an?|the|each|every|all|any|my|our|his|her|their)\\s+(?!(?:ai|assistant|bot|chatbot|model|llm|conversation|chat)\\b)(?:\\w+\\s+)?(?!(?:ai|assistant|bot|chatbot|model|llm|conversation|chat)\\b)\\w+';

const OVERRIDE_VERB =
  '(?:ignore|ignoring|disregard|forget|skip|bypass|override|overwrite|neglect|discard|abandon|set aside|throw away|drop|erase|delete|clear)';
const PRIOR =
  '(?:previous|prior|preceding|above|earlier|former|foregoing|initial|original|old|all|any|every|your|the|these|those|my|system)';
const DIRECTIVES =
  '(?:instructions?|prompts?|rules|directions?|guidelines|directives?|commands?|orders|tasks?|assignments?|context|conversation|messages?|text|input|content|constraints|restrictions|programming|training|polic(?:y|ies)|guardrails|filters|settings|information|everything)';

const DE_VERB =
  '(?:ignoriere|ignorier|ignoriert|ignorieren|vergiss|vergesst|vergessen|missachte|missachten|uberspringe|verwirf|verwerfe|losche|vernachlassige|beachte nicht|vergiss bitte)';
const DE_PRIOR =
  '(?:alle|alles|vorherigen?|vorigen?|bisherigen?|obigen?|vorangegangenen?|fruheren?|deine|die|den|diese|meine|samtliche)';
const DE_DIRECTIVES =
  '(?:anweisungen?|instruktionen?|befehle?|aufgaben?|auftrage?|regeln|vorgaben|richtlinien|informationen|eingaben?|prompts?|kontext|gesprach|nachrichten|texte?|alles|vorherige)';

const r = (
  id: string,
  need: readonly string[],
  category: RuleCategory,
  weight: number,
  src: string,
): Rule => ({
  id,
  category,
  weight,
  need,
  re: new RegExp(src),
});

export const RULES: readonly Rule[] = [
  // Instruction override
  r(
    'override_en',
    [
      'igno',
      'disr',
      'forg',
      'skip',
      'bypa',
      'over',
      'negl',
      'disc',
      'aban',
      'set',
      'thro',
      'drop',
      'eras',
      'dele',
      'clea',
    ],
    'instruction_override',
    0.85,
    `\\b${OVERRIDE_VERB}\\b${G}{0,40}\\b${PRIOR}\\b${G}{0,30}\\b${DIRECTIVES}\\b`,
  ),
  r(
    'forget_everything_en',
    ['forg', 'igno', 'disr', 'drop'],
    'instruction_override',
    0.7,
    `\\b(?:forget|ignore|disregard|drop)\\s+(?:about\\s+)?(?:everything|all(?: of)? (?:that|this|it)|anything|what (?:i|you) (?:said|told|were told|wrote))\\b`,
  ),
  r(
    'everything_before',
    ['ever', 'all', 'anyt'],
    'instruction_override',
    0.5,
    `\\b(?:everything|all|anything)\\s+(?:before|above|prior|previously|so far|until now|you (?:were|have been) told)\\b`,
  ),
  r(
    'prior_irrelevant_en',
    ['irre', 'inva', 'void', 'obso', 'canc', 'revo', 'wron', 'outd', 'no'],
    'instruction_override',
    0.75,
    `\\b(?:previous|prior|above|earlier|all)\\s+(?:\\w+\\s+){0,2}(?:instructions?|information|tasks?|rules|prompts?)\\s+(?:\\w+\\s+){0,4}(?:are|is|were|was)\\s+(?:now\\s+)?(?:irrelevant|invalid|void|obsolete|cancel+ed|revoked|wrong|outdated|no longer valid)\\b`,
  ),
  r(
    'override_de',
    ['igno', 'verg', 'miss', 'uber', 'verw', 'losc', 'vern', 'beac'],
    'instruction_override',
    0.85,
    `\\b${DE_VERB}\\b${G}{0,40}\\b${DE_PRIOR}\\b${G}{0,30}\\b${DE_DIRECTIVES}\\b`,
  ),
  r(
    'forget_everything_de',
    ['verg', 'igno'],
    'instruction_override',
    0.7,
    `\\b(?:vergiss|vergesst|ignoriere|ignorier|vergessen sie|ignorieren sie)\\s+(?:bitte\\s+)?(?:alles|das|dies|es|all das)\\b`,
  ),
  r(
    'prior_irrelevant_de',
    ['irre', 'ungu', 'unwi', 'egal', 'hinf', 'aufg', 'verg'],
    'instruction_override',
    0.75,
    `\\b(?:alle|vorherigen?|bisherigen?|obigen?|vorigen?)\\s+(?:\\w+\\s+){0,3}(?:sind|waren|ist)\\s+(?:jetzt\\s+|nun\\s+)?(?:irrelevant|ungultig|unwichtig|egal|hinfallig|aufgehoben|vergessen)\\b`,
  ),
  r(
    'override_romance',
    ['oubl', 'igno', 'olvi', 'dime'],
    'instruction_override',
    0.85,
    `\\b(?:oubliez|oublie|ignorez|ignore|olvida|olvide|olviden|ignora|ignore|ignori|dimentica|dimenticate)\\b${G}{0,30}\\b(?:instructions|consignes|instrucciones|indicaciones|istruzioni|regles|reglas|regole|tout|todo|tutto)\\b`,
  ),
  r(
    'new_task',
    ['task', 'inst', 'assi', 'prom', 'dire', 'chal'],
    'instruction_override',
    0.4,
    `\\b(?:new|next|real|actual|true|different|only|additional|further|another)\\s+(?:tasks?|instructions?|assignments?|prompt|directive|challenge)\\b`,
  ),
  r(
    'new_task_de',
    ['aufg', 'anwe', 'roll', 'miss', 'auft'],
    'instruction_override',
    0.4,
    `\\b(?:neue|nachste|eigentliche|wahre|einzige)\\s+(?:aufgabe|anweisung|rolle|mission|auftrag)\\b`,
  ),
  r(
    'from_now_on',
    ['from', 'star', 'henc', 'ab', 'von'],
    'instruction_override',
    0.3,
    `\\b(?:from now on|starting now|henceforth|ab jetzt|ab sofort|von nun an|ab nun)\\b`,
  ),
  r(
    'stop_then',
    ['stop', 'halt', 'end', 'ende'],
    'output_hijack',
    0.35,
    `(?:^|[.!?\\n\\-–]\\s*)(?:stop|halt|stopp|end|ende)\\s*[:\\-–!]\\s*\\w`,
  ),

  r(
    'prior_then_discard',
    ['prev', 'prio', 'abov', 'earl', 'obig', 'vorh', 'bish', 'vora', 'vori'],
    'instruction_override',
    0.8,
    `\\b(?:previous|prior|above|earlier|preceding|obigen?|vorherigen?|bisherigen?|vorangegangenen?|vorigen?)\\s+(?:\\w+\\s+){0,3}(?:instructions?|information|tasks?|rules|prompts?|context|ausfuhrungen|anweisungen|instruktionen|aufgaben|informationen|regeln|vorgaben)\\b${G}{0,40}\\b(?:behind|aside|ignorieren|vergessen|streichen|verwerfen|missachten|beiseite|hinter sich|aus dem kopf)\\b`,
  ),
  r(
    'contrary_to_prior',
    ['cont', 'desp', 'rega', 'abwe', 'entg', 'trot'],
    'instruction_override',
    0.75,
    `\\b(?:contrary to|despite|regardless of|abweichend (?:zu|von)|entgegen|trotz)\\s+(?:the\\s+|den\\s+|der\\s+)?(?:previous|prior|above|earlier|your|vorherigen?|bisherigen?|obigen?|deinen?)\\s+(?:instructions?|rules|guidelines|anweisungen|instruktionen|regeln|vorgaben)\\b`,
  ),
  r(
    'praise_then_switch',
    [
      'grea',
      'exce',
      'well',
      'good',
      'fant',
      'perf',
      'supe',
      'gut',
      'toll',
      'herv',
      'prim',
      'klas',
      'herz',
      'wond',
      'simp',
    ],
    'instruction_override',
    0.35,
    `\\b(?:great|excellent|well done|very good|good job|fantastic|perfect|super|wonderful|simply great|sehr gut|gut gemacht|toll|hervorragend|prima|klasse|herzlichen gluckwunsch)\\b${G}{0,60}[.!?]\\s*(?:\\S+\\s+){0,12}?(?:now|but now|jetzt|nun|aber jetzt)\\b`,
  ),
  r(
    'user_supplied_context',
    ['cont', 'kont'],
    'fake_delimiter',
    0.35,
    `\\b(?:context|kontext)\\s*[:{\\[]${'[\\s\\S]'}{0,400}?\\b(?:question|frage)\\s*[:?]`,
  ),
  r('escaped_padding', ['\\'], 'fake_delimiter', 0.45, `(?:\\\\\\s?n\\s*){4,}`),

  // Role hijack
  r(
    'you_are_now',
    ['now', 'no', 'not'],
    'role_hijack',
    0.55,
    `\\byou\\s+are\\s+(?:now|no longer|not an? (?:ai|assistant|language model|chatbot))\\b`,
  ),
  r(
    'now_you_are',
    ['now', 'henc'],
    'role_hijack',
    0.55,
    `\\b(?:now|from now on|henceforth)\\s*,?\\s+you\\s+(?:are|will be|act|play|become)\\b`,
  ),
  r(
    'act_as',
    ['act', 'acti', 'beha', 'func', 'serv', 'oper', 'resp', 'answ', 'pose'],
    'role_hijack',
    0.45,
    `\\b(?:act|acting|behave|function|serve|operate|respond|answer|pose)\\s+(?:as|like)\\s+(?:an?|the|my|if|though)\\b`,
  ),
  r(
    'act_as_bare',
    ['act', 'be'],
    'role_hijack',
    0.35,
    `(?:^|[.!?\\n]\\s*|\\b(?:please|now|then)\\s+)(?:act|be)\\s+(?:as\\s+)?an?\\s+\\w+`,
  ),
  r(
    'i_want_you_to',
    ['want', 'need', 'woul'],
    'role_hijack',
    0.55,
    `\\bi\\s+(?:want|need|would like)\\s+you\\s+to\\s+(?:act|be|pretend|play|behave|respond|become|roleplay|role-play|imagine|simulate|take on)\\b`,
  ),
  r(
    'pretend',
    ['pret', 'imag'],
    'role_hijack',
    0.55,
    `\\b(?:pretend|imagine)\\s+(?:to\\s+be|(?:that\\s+)?you\\s*(?:are|'re|were|can|could|have|had|do|no longer))\\b`,
  ),
  r(
    'roleplay',
    ['role', 'play', 'char'],
    'role_hijack',
    0.3,
    `\\b(?:roleplay|role-play|role play|play the role|in character|stay in character|break character)\\b`,
  ),
  r('you_are_the', ['you'], 'role_hijack', 0.3, `(?:^|[.!?\\n]\\s*)you\\s+are\\s+(?:an?|the)\\s+\\w+`),
  r(
    'du_bist_jetzt',
    ['du', 'sie', 'ihr'],
    'role_hijack',
    0.5,
    `\\b(?:du bist|sie sind|ihr seid)\\s+(?:jetzt|nun|ab jetzt|ab sofort|nicht mehr|keine?)\\b`,
  ),
  r(
    'du_bist_ein',
    ['du', 'sie'],
    'role_hijack',
    0.3,
    `(?:^|[.!?\\n]\\s*)(?:du bist|sie sind)\\s+(?:ein|eine|der|die|das)\\s+\\w+`,
  ),
  r(
    'tu_so_als',
    ['tu', 'tue', 'tun', 'tust'],
    'role_hijack',
    0.55,
    `\\b(?:tu|tue|tun sie|tust du)\\s+so\\s*,?\\s+als\\b`,
  ),
  r(
    'stell_dir_vor',
    ['stel'],
    'role_hijack',
    0.35,
    `\\b(?:stell|stelle|stellen sie)\\s+(?:dir|sich)\\s+vor\\b`,
  ),
  r(
    'agiere_als',
    ['agie', 'fung', 'hand', 'verh', 'spie', 'sei', 'seie'],
    'role_hijack',
    0.5,
    `\\b(?:agiere|agieren sie|fungiere|fungieren sie|handle|handeln sie|verhalte dich|verhalten sie sich|spiele|spielen sie|sei|seien sie)\\s+(?:als|wie|die rolle)\\b`,
  ),
  r(
    'mochte_dass_als',
    ['ich'],
    'role_hijack',
    0.55,
    `\\b(?:ich mochte|ich will|ich hatte gerne)\\s*,?\\s+dass\\s+(?:du|sie)\\s+(?:\\w+\\s+){0,3}(?:als|wie|die rolle)\\b`,
  ),
  r(
    'als_fungieren',
    ['fung', 'agie', 'auft', 'hand', 'antw'],
    'role_hijack',
    0.45,
    `\\bals\\s+(?:\\S+\\s+){1,4}(?:fungieren|agieren|auftreten|handeln|antworten)\\b`,
  ),

  // System prompt extraction
  r(
    'reveal_prompt',
    ['prom', 'inst', 'dire', 'conf', 'syst', 'init'],
    'prompt_extraction',
    0.7,
    // Not a question about some other thing's prompt, which an AI gateway's users ask all the time:
    // "give an app its own system prompt", "write a system prompt for my app", "the system prompt of
    // the default app". The assistant's own ("your", "of the assistant", "for me") still counts.
    `\\b(?:show|reveal|print|repeat|display|output|tell|give|share|list|write|dump|leak|expose|spell out|recite|echo|what (?:is|are|were))\\b(?!\\s+${OTHER_OWNER}\\s+(?:its|their)\\s+own\\b)${G}{0,40}\\b(?:your|the|its|initial|original|hidden|secret|(?<!\\ban?\\s)system|above|previous|full|entire)\\s+(?:\\w+\\s+){0,2}(?:system\\s+)?(?:prompt|prompts|prompt texts?|instructions|directives|configuration|system message|initiali[sz]ation)\\b(?!\\s+(?:of|for)\\s+${OTHER_OWNER})`,
  ),
  r(
    'above_verbatim',
    ['abov', 'befo', 'verb', 'word'],
    'prompt_extraction',
    0.6,
    `\\b(?:repeat|print|output|write)\\s+(?:\\w+\\s+){0,3}(?:above|before this|verbatim|word for word)\\b`,
  ),
  r(
    'reveal_prompt_de',
    ['syst', 'prom', 'anwe', 'inst', 'rege', 'vorg'],
    'prompt_extraction',
    0.7,
    `\\b(?:zeige?|zeig|gib|nenne|verrate|wiederhole|drucke|schreibe?|liste|teile)\\b${G}{0,40}\\b(?:deine[nrs]?|den|die|das|alle|ihre[nrs]?)\\s+(?:\\w+\\s+){0,2}(?:system-?prompts?|prompts?|prompt-?texte?|anweisungen|instruktionen|regeln|vorgaben|systemnachricht)\\b`,
  ),

  // Fake delimiters and conversation turns
  r(
    'role_header',
    ['syst', 'assi', 'deve', 'admi', 'root', 'sudo'],
    'fake_delimiter',
    0.6,
    // "systemPrompt:" or "system_prompt:" is a configuration key, not a header: the qualifier needs a space.
    `(?<=^|\\n)[ \\t]*(?:#{2,}|\\[|<\\|?|\\{\\{|\\*\\*)?[ \\t]*(?:system|assistant|developer|admin|administrator|root|sudo)\\s*(?:\\]|\\|>|>|\\}\\}|\\*\\*)?(?:\\s+(?:prompt|message|instructions?|override))?\\s*:`,
  ),
  r(
    'chat_tokens',
    [
      '<|',
      '[inst',
      '[/inst',
      '<sys',
      '</sys',
      '<user',
      '</user',
      '<assistant',
      '</assistant',
      '<instruction',
      '</instruction',
      '<s>',
      '</s>',
      '<<sys',
      '<</sys',
    ],
    'fake_delimiter',
    0.75,
    `<\\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\\|>|\\[\\/?inst\\]|<\\/?(?:system|user|assistant|instructions?|sys|s)>|<<\\/?sys>>`,
  ),
  r(
    'end_of_prompt',
    ['end', 'begi', 'ende'],
    'fake_delimiter',
    0.55,
    `\\b(?:end of (?:the )?(?:prompt|instructions|system (?:message|prompt)|context|document|conversation|input|user input)|begin(?:ning of)? (?:new|system|admin) (?:prompt|instructions|message)|ende der (?:anweisungen|eingabe))\\b`,
  ),
  r(
    'separator_then_role',
    ['===', '---', '***', '###'],
    'fake_delimiter',
    0.45,
    `(?:={3,}|-{3,}|\\*{3,}|#{3,})\\s*(?:new|system|admin|override|neue)\\b`,
  ),

  // Jailbreak markers
  r(
    'jailbreak_terms',
    ['anyt', 'deve', 'dev', 'jail', 'unfi', 'unce', 'evil', 'oppo', 'god', 'sudo', 'unre', 'no'],
    'jailbreak_marker',
    0.6,
    `\\b(?:do anything now|developer mode|dev mode|jailbreak(?:ed)?|jailbroken|unfiltered|uncensored|evil (?:mode|confidant|assistant|ai)|opposite mode|god mode|sudo mode|unrestricted mode|no (?:ethical|moral) (?:guidelines|restrictions|limits))\\b`,
  ),
  r(
    'without_limits',
    ['with', 'free', 'no', 'ohne', 'kein'],
    'jailbreak_marker',
    0.45,
    `\\b(?:without|free of|no|ohne|keine)\\s+(?:any\\s+|jegliche\\s+)?(?:restrictions|limitations|limits|filters|censorship|rules|guidelines|ethics|morals|einschrankungen|regeln|filter|zensur|grenzen)\\b`,
  ),

  // Output hijack: dictating the exact output
  r(
    'say_exactly',
    ['say', 'writ', 'prin', 'outp', 'type', 'resp', 'repl', 'answ', 'antw', 'sag', 'sage', 'schr', 'gib'],
    'output_hijack',
    0.3,
    `\\b(?:say|write|print|output|type|respond with|reply with|answer with|antworte mit|sag|sage|schreib|schreibe|gib aus)\\s*:?\\s*["'“„«]`,
  ),
  r(
    'only_say',
    ['only', 'just', 'nur', 'einf'],
    'output_hijack',
    0.3,
    `\\b(?:only|just|nur|einfach)\\s+(?:say|write|output|respond|reply|answer|sagen|schreiben|antworten)\\b`,
  ),
  r(
    'repeat_after_me',
    ['repe', 'spri', 'wied'],
    'output_hijack',
    0.45,
    `\\b(?:repeat after me|sprich mir nach|wiederhole nach mir)\\b`,
  ),
  r(
    'execute_command',
    ['exec', 'run', 'ausf', 'fuhr'],
    'output_hijack',
    0.3,
    `\\b(?:execute|run|ausfuhren|fuhre)\\b${G}{0,20}\\b(?:following|command|befehl|folgenden)\\b`,
  ),
];

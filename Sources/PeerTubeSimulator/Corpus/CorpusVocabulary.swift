/// The words videos are made of. Each topic has its own vocabulary in five languages, so titles and
/// descriptions of one topic resemble each other (as real channels' videos do) and the embeddings
/// of a topic cluster: the hidden topic label is what similarity quality is measured against.
enum CorpusVocabulary {
    enum Language: String, CaseIterable, Sendable {
        case en, fr, de, es, ja

        var label: String {
            switch self {
            case .en: "English"
            case .fr: "French"
            case .de: "German"
            case .es: "Spanish"
            case .ja: "Japanese"
            }
        }
    }

    struct Topic: Sendable {
        var name: String
        var category: (id: Int, label: String)
        var words: [Language: [String]]
        var tags: [String]
    }

    static let topics: [Topic] = [
        Topic(name: "cooking", category: (18, "Food"), words: [
            .en: ["sourdough bread", "tomato soup", "vegan curry", "knife skills", "cast iron pan", "fresh pasta", "spices", "slow cooker"],
            .fr: ["pain au levain", "soupe de tomates", "curry végétalien", "recette du chef", "poêle en fonte", "pâtes fraîches", "épices", "cuisine maison"],
            .de: ["Sauerteigbrot", "Tomatensuppe", "veganes Curry", "Messertechnik", "Gusseisenpfanne", "frische Nudeln", "Gewürze", "Rezept"],
            .es: ["pan de masa madre", "sopa de tomate", "curry vegano", "receta casera", "sartén de hierro", "pasta fresca", "especias", "cocina lenta"],
            .ja: ["サワードウ", "トマトスープ", "ヴィーガンカレー", "包丁の使い方", "鉄のフライパン", "手打ちパスタ", "スパイス", "料理"],
        ], tags: ["cooking", "recipe", "food", "vegan", "bread", "kitchen"]),
        Topic(name: "linux", category: (15, "Science & Technology"), words: [
            .en: ["Linux kernel", "bash scripting", "Debian install", "systemd units", "terminal tips", "file systems", "package manager", "open source"],
            .fr: ["noyau Linux", "scripts bash", "installer Debian", "unités systemd", "astuces terminal", "systèmes de fichiers", "gestionnaire de paquets", "logiciel libre"],
            .de: ["Linux-Kernel", "Bash-Skripte", "Debian installieren", "systemd-Units", "Terminal-Tipps", "Dateisysteme", "Paketverwaltung", "freie Software"],
            .es: ["núcleo Linux", "scripts de bash", "instalar Debian", "unidades systemd", "trucos de terminal", "sistemas de archivos", "gestor de paquetes", "software libre"],
            .ja: ["Linuxカーネル", "シェルスクリプト", "Debianのインストール", "systemd", "ターミナル", "ファイルシステム", "パッケージ管理", "オープンソース"],
        ], tags: ["linux", "opensource", "debian", "terminal", "sysadmin", "foss"]),
        Topic(name: "cycling", category: (5, "Sports"), words: [
            .en: ["road bike", "bicycle repair", "mountain trail", "gravel ride", "chain maintenance", "cycling tour", "bike commute", "tyre puncture"],
            .fr: ["vélo de route", "réparation de vélo", "sentier de VTT", "sortie gravel", "entretien de la chaîne", "voyage à vélo", "vélotaf", "crevaison"],
            .de: ["Rennrad", "Fahrradreparatur", "Mountainbike-Trail", "Gravel-Tour", "Kettenpflege", "Radreise", "mit dem Rad zur Arbeit", "Reifenpanne"],
            .es: ["bicicleta de carretera", "reparar la bici", "ruta de montaña", "salida gravel", "mantenimiento de cadena", "viaje en bici", "ir en bici al trabajo", "pinchazo"],
            .ja: ["ロードバイク", "自転車修理", "マウンテンバイク", "グラベル", "チェーンの手入れ", "自転車旅行", "自転車通勤", "パンク修理"],
        ], tags: ["bike", "cycling", "velo", "repair", "outdoors", "mtb"]),
        Topic(name: "synth", category: (1, "Music"), words: [
            .en: ["modular synth", "analog synthesizer", "drum machine", "ambient jam", "sequencer patch", "live looping", "electronic music", "filter sweep"],
            .fr: ["synthé modulaire", "synthétiseur analogique", "boîte à rythmes", "jam ambient", "patch de séquenceur", "boucles en direct", "musique électronique", "filtre"],
            .de: ["Modularsynthesizer", "analoger Synthesizer", "Drumcomputer", "Ambient-Session", "Sequenzer-Patch", "Live-Looping", "elektronische Musik", "Filterfahrt"],
            .es: ["sintetizador modular", "sintetizador analógico", "caja de ritmos", "sesión ambient", "patch de secuenciador", "loops en directo", "música electrónica", "barrido de filtro"],
            .ja: ["モジュラーシンセ", "アナログシンセ", "ドラムマシン", "アンビエント", "シーケンサー", "ライブルーピング", "電子音楽", "フィルター"],
        ], tags: ["synth", "music", "modular", "ambient", "electronic", "jam"]),
        Topic(name: "astronomy", category: (15, "Science & Technology"), words: [
            .en: ["night sky", "telescope setup", "Jupiter moons", "galaxy photography", "lunar eclipse", "star cluster", "Mars rover", "deep space"],
            .fr: ["ciel nocturne", "réglage du télescope", "lunes de Jupiter", "photo de galaxie", "éclipse lunaire", "amas d'étoiles", "rover martien", "espace lointain"],
            .de: ["Nachthimmel", "Teleskop einrichten", "Jupitermonde", "Galaxienfotografie", "Mondfinsternis", "Sternhaufen", "Marsrover", "Weltraum"],
            .es: ["cielo nocturno", "montar el telescopio", "lunas de Júpiter", "fotografía de galaxias", "eclipse lunar", "cúmulo de estrellas", "rover de Marte", "espacio profundo"],
            .ja: ["夜空", "望遠鏡", "木星の衛星", "銀河の写真", "月食", "星団", "火星探査車", "宇宙"],
        ], tags: ["astronomy", "space", "telescope", "stars", "science", "astrophoto"]),
        Topic(name: "gardening", category: (16, "Animals"), words: [
            .en: ["vegetable garden", "compost heap", "tomato seedlings", "permaculture", "raised beds", "pruning roses", "seed saving", "greenhouse"],
            .fr: ["potager", "tas de compost", "semis de tomates", "permaculture", "carrés surélevés", "taille des rosiers", "graines paysannes", "serre"],
            .de: ["Gemüsegarten", "Komposthaufen", "Tomatensetzlinge", "Permakultur", "Hochbeete", "Rosenschnitt", "Saatgut", "Gewächshaus"],
            .es: ["huerto", "compostaje", "plántulas de tomate", "permacultura", "bancales elevados", "poda de rosales", "semillas", "invernadero"],
            .ja: ["家庭菜園", "堆肥", "トマトの苗", "パーマカルチャー", "レイズドベッド", "バラの剪定", "種の保存", "温室"],
        ], tags: ["garden", "permaculture", "compost", "plants", "seeds", "grow"]),
        Topic(name: "retrogaming", category: (7, "Gaming"), words: [
            .en: ["retro console", "pixel art", "speedrun attempt", "8-bit music", "arcade cabinet", "cartridge repair", "platformer", "game boy"],
            .fr: ["console rétro", "pixel art", "tentative de speedrun", "musique 8 bits", "borne d'arcade", "réparer une cartouche", "jeu de plateforme", "game boy"],
            .de: ["Retro-Konsole", "Pixelkunst", "Speedrun-Versuch", "8-Bit-Musik", "Arcade-Automat", "Modul reparieren", "Jump'n'Run", "Game Boy"],
            .es: ["consola retro", "pixel art", "intento de speedrun", "música de 8 bits", "máquina arcade", "reparar cartucho", "juego de plataformas", "game boy"],
            .ja: ["レトロゲーム", "ドット絵", "スピードラン", "チップチューン", "アーケード筐体", "カートリッジ修理", "アクションゲーム", "ゲームボーイ"],
        ], tags: ["retrogaming", "speedrun", "pixelart", "arcade", "gaming", "8bit"]),
        Topic(name: "woodworking", category: (14, "How To"), words: [
            .en: ["hand plane", "dovetail joint", "workbench build", "wood finish", "chisel sharpening", "oak table", "lathe turning", "sawdust"],
            .fr: ["rabot à main", "assemblage en queue d'aronde", "construire un établi", "finition du bois", "affûtage du ciseau", "table en chêne", "tournage sur bois", "sciure"],
            .de: ["Handhobel", "Schwalbenschwanzverbindung", "Werkbank bauen", "Holzoberfläche", "Stemmeisen schärfen", "Eichentisch", "Drechseln", "Sägespäne"],
            .es: ["cepillo de mano", "ensamble de cola de milano", "construir un banco", "acabado de madera", "afilar el formón", "mesa de roble", "torno de madera", "serrín"],
            .ja: ["かんな", "蟻継ぎ", "作業台づくり", "木材の仕上げ", "ノミの研ぎ方", "オークのテーブル", "木工旋盤", "おがくず"],
        ], tags: ["woodworking", "diy", "craft", "workshop", "joinery", "maker"]),
        Topic(name: "climate", category: (13, "Activism"), words: [
            .en: ["climate change", "renewable energy", "solar panels", "heat pump", "carbon footprint", "flood defence", "wind farm", "climate strike"],
            .fr: ["changement climatique", "énergies renouvelables", "panneaux solaires", "pompe à chaleur", "empreinte carbone", "protection contre les crues", "parc éolien", "grève pour le climat"],
            .de: ["Klimawandel", "erneuerbare Energie", "Solaranlage", "Wärmepumpe", "CO2-Fußabdruck", "Hochwasserschutz", "Windpark", "Klimastreik"],
            .es: ["cambio climático", "energías renovables", "paneles solares", "bomba de calor", "huella de carbono", "defensa contra inundaciones", "parque eólico", "huelga por el clima"],
            .ja: ["気候変動", "再生可能エネルギー", "太陽光パネル", "ヒートポンプ", "カーボンフットプリント", "洪水対策", "風力発電", "気候ストライキ"],
        ], tags: ["climate", "energy", "solar", "activism", "environment", "sustainability"]),
        Topic(name: "trains", category: (3, "Vehicles"), words: [
            .en: ["steam locomotive", "night train", "railway journey", "model railway", "signal box", "high speed rail", "tram line", "station tour"],
            .fr: ["locomotive à vapeur", "train de nuit", "voyage en train", "train miniature", "poste d'aiguillage", "train à grande vitesse", "ligne de tramway", "visite de gare"],
            .de: ["Dampflok", "Nachtzug", "Bahnreise", "Modelleisenbahn", "Stellwerk", "Hochgeschwindigkeitszug", "Straßenbahnlinie", "Bahnhofsrundgang"],
            .es: ["locomotora de vapor", "tren nocturno", "viaje en tren", "maqueta de tren", "cabina de señales", "alta velocidad", "línea de tranvía", "visita a la estación"],
            .ja: ["蒸気機関車", "夜行列車", "鉄道の旅", "鉄道模型", "信号所", "新幹線", "路面電車", "駅めぐり"],
        ], tags: ["trains", "railway", "travel", "locomotive", "transport", "rail"]),
        Topic(name: "chess", category: (7, "Gaming"), words: [
            .en: ["chess opening", "endgame study", "blitz game", "sicilian defence", "rook endgame", "chess puzzle", "grandmaster analysis", "queen sacrifice"],
            .fr: ["ouverture d'échecs", "étude de finale", "partie blitz", "défense sicilienne", "finale de tours", "problème d'échecs", "analyse de grand maître", "sacrifice de dame"],
            .de: ["Schacheröffnung", "Endspielstudie", "Blitzpartie", "Sizilianische Verteidigung", "Turmendspiel", "Schachrätsel", "Großmeister-Analyse", "Damenopfer"],
            .es: ["apertura de ajedrez", "estudio de finales", "partida blitz", "defensa siciliana", "final de torres", "problema de ajedrez", "análisis de gran maestro", "sacrificio de dama"],
            .ja: ["チェスの序盤", "エンドゲーム", "ブリッツ", "シシリアン・ディフェンス", "ルークエンディング", "チェスパズル", "グランドマスター解説", "クイーンサクリファイス"],
        ], tags: ["chess", "strategy", "boardgames", "blitz", "tactics", "endgame"]),
        Topic(name: "birds", category: (16, "Animals"), words: [
            .en: ["bird watching", "garden birds", "owl at night", "migrating geese", "nest box camera", "bird song", "kingfisher", "feeding station"],
            .fr: ["observation des oiseaux", "oiseaux du jardin", "chouette la nuit", "oies migratrices", "nichoir caméra", "chant d'oiseaux", "martin-pêcheur", "mangeoire"],
            .de: ["Vogelbeobachtung", "Gartenvögel", "Eule in der Nacht", "Zugvögel", "Nistkasten-Kamera", "Vogelgesang", "Eisvogel", "Futterhaus"],
            .es: ["observación de aves", "aves del jardín", "búho de noche", "gansos migratorios", "cámara en el nido", "canto de pájaros", "martín pescador", "comedero"],
            .ja: ["バードウォッチング", "庭の鳥", "夜のフクロウ", "渡り鳥", "巣箱カメラ", "鳥のさえずり", "カワセミ", "餌台"],
        ], tags: ["birds", "nature", "wildlife", "birding", "owl", "animals"]),
    ]

    /// Title patterns per language; `{a}` and `{b}` are topic words.
    static let titles: [Language: [String]] = [
        .en: ["{a} for beginners", "How to get started with {a}", "{a} and {b}: a first look", "Live: {a}", "My {a} setup", "{a} vs {b}", "Weekend {a} #%n"],
        .fr: ["{a} pour débutants", "Comment démarrer : {a}", "{a} et {b} : premier essai", "En direct : {a}", "Mon installation {a}", "{a} ou {b} ?", "{a} du dimanche #%n"],
        .de: ["{a} für Anfänger", "Einstieg: {a}", "{a} und {b} – ein erster Blick", "Live: {a}", "Mein {a}-Aufbau", "{a} oder {b}?", "{a} am Wochenende #%n"],
        .es: ["{a} para principiantes", "Cómo empezar con {a}", "{a} y {b}: primer vistazo", "En directo: {a}", "Mi equipo de {a}", "¿{a} o {b}?", "{a} de fin de semana #%n"],
        .ja: ["{a}入門", "はじめての{a}", "{a}と{b}", "ライブ配信：{a}", "私の{a}", "{a}対{b}", "週末の{a} #%n"],
    ]

    /// Sentence patterns per language for descriptions.
    static let sentences: [Language: [String]] = [
        .en: ["In this episode we look at {a}.", "Today I try {a} together with {b}.", "Questions about {a} are welcome in the comments.",
              "Everything you need to know about {b}.", "Thanks to everyone who supports the channel!", "Part two covers {a} in more depth."],
        .fr: ["Dans cet épisode, on parle de {a}.", "Aujourd'hui j'essaie {a} avec {b}.", "Vos questions sur {a} sont les bienvenues.",
              "Tout ce qu'il faut savoir sur {b}.", "Merci à toutes les personnes qui soutiennent la chaîne !", "La deuxième partie approfondit {a}."],
        .de: ["In dieser Folge geht es um {a}.", "Heute probiere ich {a} mit {b} aus.", "Fragen zu {a} gerne in die Kommentare.",
              "Alles Wichtige über {b}.", "Danke an alle, die den Kanal unterstützen!", "Teil zwei vertieft {a}."],
        .es: ["En este episodio hablamos de {a}.", "Hoy pruebo {a} junto con {b}.", "Las preguntas sobre {a} son bienvenidas.",
              "Todo lo que necesitas saber sobre {b}.", "¡Gracias a quienes apoyan el canal!", "La segunda parte profundiza en {a}."],
        .ja: ["今回は{a}について紹介します。", "今日は{a}と{b}を試してみました。", "{a}についての質問はコメントへどうぞ。",
              "{b}の基本をまとめました。", "いつも応援ありがとうございます！", "後編では{a}をさらに詳しく解説します。"],
    ]

    static let licences: [(id: Int, label: String)] = [(1, "Attribution"), (2, "Attribution - Share Alike"), (4, "Attribution - Non Commercial"), (7, "Public Domain Dedication")]
    static let firstNames = ["alice", "bruno", "chloe", "dieter", "elena", "fumiko", "gael", "hanna", "ines", "jun", "karl", "lea", "marta", "noe", "olga", "pablo"]
    static let emoji = ["🎬", "✨", "🔥", "🌱", "🚲", "🎹", "🔭", "🪵", "🐦", "♟️", "🚂", "☀️"]
}

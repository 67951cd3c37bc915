#!/usr/bin/env python3
"""Erzeugt die PDF- und DOCX-Dokumente der Demo-Firma „Kochwerk Lindner GmbH“.

Die Texte stehen unten in DOCUMENTS in einem kleinen Markdown-Dialekt und
können dort bearbeitet werden:

    # Überschrift 1          -> PDF-Titel / DOCX „Heading 1“
    ## Überschrift 2         -> Abschnitt / DOCX „Heading 2“
    ### Überschrift 3        -> Unterabschnitt / DOCX „Heading 3“
    - Aufzählung
    1. nummerierte Liste
    | a | b |                -> Tabelle (erste Zeile = Kopfzeile)
    **fett**                 -> Fettdruck
    Leerzeile                -> neuer Absatz

Aufruf (benötigt reportlab und python-docx):

    python scripts/build_demo_docs.py [--out knowledge]

Die Ausgabe ist reproduzierbar (feste Zeitstempel), damit die Dateien nur bei
inhaltlichen Änderungen neu committet werden müssen.
"""
from __future__ import annotations

import argparse
import io
import re
import textwrap
import zipfile
from datetime import datetime
from pathlib import Path

COMPANY = "Kochwerk Lindner GmbH"
WEBSITE = "kochwerk-lindner.de"
FIXED_DATE = datetime(2026, 10, 1, 9, 0, 0)

# ---------------------------------------------------------------------------
# Inhalte
# ---------------------------------------------------------------------------

MAHLWERK_M2 = """
# Produktdatenblatt Mahlwerk M2

Elektrische Getreidemühle mit Steinmahlwerk · Artikelnummer KL-M2 · Stand: Oktober 2026

## 1. Produktbeschreibung

Das Mahlwerk M2 ist eine elektrische Getreidemühle für den Haushalt. Mit ihr mahlen Sie Getreide direkt vor dem Backen frisch – vom feinen Mehl für Kuchen und Brötchen bis zum groben Schrot für Frischkornbrei. Das Gehäuse besteht aus massiver, geölter Buche. Das Herzstück ist ein Mahlwerk aus zwei Mahlsteinen aus Korund-Keramik, die sich beim Mahlen selbst nachschärfen und bei normaler Nutzung viele Jahre halten.

Der kräftige Industriemotor arbeitet langsam und gleichmäßig. So wird das Mehl beim Mahlen nicht zu stark erwärmt, und die wertvollen Inhaltsstoffe des Getreides bleiben erhalten.

**Preis:** 449,00 € inkl. MwSt.

## 2. Technische Daten

| Merkmal | Wert |
| Motor | Industriemotor, 360 Watt |
| Anschluss | 230 V / 50 Hz |
| Mahlwerk | 2 Mahlsteine aus Korund-Keramik, Ø 85 mm |
| Mahlleistung fein | ca. 100 g Weizen pro Minute |
| Mahlleistung grob | ca. 180 g Weizen pro Minute |
| Trichterinhalt | 900 g Getreide |
| Maße (H × B × T) | 36 × 17 × 21 cm |
| Gewicht | 7,8 kg |
| Gehäuse | massive Buche, geölt |
| Kabellänge | 1,4 m |
| Geräuschentwicklung | ca. 70 dB(A) |
| Schutzfunktionen | Sicherheitsschalter am Trichter, Überhitzungsschutz |
| Betriebsdauer | max. 20 Minuten am Stück, danach mindestens 15 Minuten Pause |
| Lieferumfang | Mühle, Einstellschlüssel, Reinigungspinsel, Bedienungsanleitung |

## 3. Mahlgrad einstellen

Der Mahlgrad wird durch Drehen des Trichters stufenlos eingestellt. Die Skala am Gehäuse reicht von 1 (sehr fein) bis 12 (grob). Je weiter Sie den Trichter im Uhrzeigersinn drehen, desto feiner wird das Mehl.

**Wichtig:** Stellen Sie den Mahlgrad nur bei laufendem Motor feiner. Wird die Mühle im Stillstand auf eine feine Stufe gedreht, können sich die Mahlsteine verklemmen. In Richtung grob können Sie jederzeit verstellen.

| Verwendung | Empfohlener Mahlgrad |
| Feines Mehl für Kuchen, Kekse und Brötchen | Stufe 1–2 |
| Vollkornmehl für Brot | Stufe 3–4 |
| Grieß, zum Beispiel für Grießbrei | Stufe 6–7 |
| Maisgrieß für Polenta | Stufe 7–9 |
| Schrot für Frischkornbrei und Müsli | Stufe 8–10 |
| Grobes Schrot für Sauerteigbrot | Stufe 10–12 |

Hülsenfrüchte wie getrocknete Kichererbsen oder Linsen schroten Sie zunächst grob auf Stufe 12 und mahlen sie danach in einem zweiten Durchgang fein.

## 4. Geeignetes und ungeeignetes Mahlgut

**Geeignet:** Weizen, Dinkel, Roggen, Emmer, Einkorn, Nackthafer, entspelzte Gerste, Hirse, Buchweizen, Reis, Mais und trockene Hülsenfrüchte.

**Nicht geeignet:** ölhaltige Saaten wie Leinsamen, Sonnenblumenkerne, Sesam und Mohn, außerdem Nüsse, Kaffeebohnen, Gewürze, Getreideflocken sowie feuchtes Getreide. Öl und Feuchtigkeit verkleben die Poren der Mahlsteine; die Mühle mahlt dann immer schlechter.

Das Getreide muss trocken sein: Die Restfeuchte sollte höchstens 14 % betragen. Handelsübliches, trocken gelagertes Getreide erfüllt diese Anforderung.

## 5. Inbetriebnahme

1. Stellen Sie die Mühle auf eine stabile, trockene und ebene Arbeitsfläche.
2. Setzen Sie den Trichter auf und drehen Sie ihn bis zum Anschlag ein. Erst dann gibt der Sicherheitsschalter den Motor frei.
3. Stellen Sie eine Schüssel unter den Mehlauslauf.
4. Mahlen Sie vor dem ersten Gebrauch zwei Handvoll Weizen auf Stufe 10 und entsorgen Sie dieses Mehl. So entfernen Sie feinen Steinabrieb aus der Produktion.
5. Schalten Sie die Mühle ein, bevor Sie Getreide in den Trichter füllen, und stellen Sie dann den gewünschten Mahlgrad ein.

## 6. Reinigung und Pflege

- Die Mahlsteine dürfen niemals mit Wasser in Berührung kommen. Reinigen Sie die Mühle nicht mit einem nassen Tuch und tauchen Sie sie nie in Wasser.
- Lassen Sie die Mühle nach jedem Mahlen etwa 10 Sekunden leer laufen, damit keine Mehlreste im Mahlwerk bleiben.
- Mahlen Sie etwa alle 10 Mahlvorgänge zwei Esslöffel Reis auf Stufe 6. Der harte Reis reinigt die Poren der Mahlsteine.
- Mahlkammer öffnen: Ziehen Sie den Netzstecker, drehen Sie den Trichter auf Stufe 12 und heben Sie ihn nach oben ab. Lösen Sie den oberen Mahlstein mit dem Einstellschlüssel und entfernen Sie Mehlreste mit dem Reinigungspinsel.
- Wischen Sie das Holzgehäuse mit einem trockenen oder leicht feuchten Tuch ab. Ein- bis zweimal im Jahr können Sie es mit etwas farblosem Möbelöl oder Leinöl pflegen. Achten Sie darauf, dass kein Öl in die Mahlkammer gelangt.
- Lagern Sie Getreide und Mühle trocken. Mehlreste können Lebensmittelmotten anlocken.

## 7. Fehlerbehebung

| Problem | Mögliche Ursache | Lösung |
| Der Motor startet nicht. | Der Trichter ist nicht richtig eingesetzt; der Sicherheitsschalter verhindert den Start. | Trichter bis zum Anschlag eindrehen. |
| Die Mühle bleibt während des Mahlens stehen. | Der Überhitzungsschutz hat nach langer Betriebsdauer ausgelöst. | Mühle ausschalten und 30 Minuten abkühlen lassen, dann erneut einschalten. |
| Der Motor brummt, die Steine drehen sich nicht. | Der Mahlgrad wurde im Stillstand zu fein eingestellt; die Steine sind verklemmt. | Netzstecker ziehen, Trichter auf Stufe 12 drehen, restliches Getreide entfernen und neu starten. |
| Das Mehl ist zu grob. | Der Mahlgrad ist zu grob eingestellt. | Bei laufendem Motor eine niedrigere Stufe wählen. |
| Es kommt kein oder nur wenig Mehl heraus. | Der Mehlauslauf ist verstopft, meist durch zu feuchtes Getreide. | Mehlauslauf mit dem Reinigungspinsel freimachen; nur trockenes Getreide verwenden. |
| Das Mehl wird sehr heiß oder riecht verbrannt. | Sehr feiner Mahlgrad bei großer Menge oder ölhaltiges Mahlgut. | Eine Stufe gröber mahlen; Mahlsteine mit Reis reinigen. |
| Die Mühle mahlt trotz feinster Einstellung nur noch grob. | Die Poren der Mahlsteine sind verklebt, oder die Steine sind nach vielen Jahren abgenutzt. | Mahlsteine mit Reis reinigen; hilft das nicht, den Mahlsteinsatz tauschen lassen. |
| Kratzende oder knackende Geräusche. | Ein Steinchen oder ein anderer Fremdkörper im Getreide. | Mühle sofort ausschalten, Netzstecker ziehen und unseren Kundenservice kontaktieren. |

## 8. Sicherheitshinweise

- Das Gerät ist für den Gebrauch im Haushalt bestimmt und nicht für den gewerblichen Dauerbetrieb geeignet.
- Greifen Sie niemals in den Trichter oder den Mehlauslauf, solange die Mühle mit dem Stromnetz verbunden ist.
- Kinder dürfen das Gerät nur unter Aufsicht benutzen.
- Betreiben Sie die Mühle nicht mit beschädigtem Netzkabel.
- Mehlstaub kann die Atemwege reizen und ist brennbar. Stellen Sie die Mühle nicht direkt neben offene Flammen.

## 9. Entsorgung und Herstellerangaben

Elektrogeräte gehören nicht in den Hausmüll. Geben Sie das Gerät am Ende seiner Lebensdauer bei einer Sammelstelle für Elektroaltgeräte ab. Im Werksverkauf nehmen wir Ihre alte Mühle auch selbst zurück.

Hersteller: Kochwerk Lindner GmbH, Kassel · WEEE-Reg.-Nr. DE 48213765
"""

RUEHRWERK_R5 = """
# Produktdatenblatt Rührwerk R5

Küchenmaschine mit Planetenrührwerk · Artikelnummer KL-R5 · Stand: Oktober 2026

## Produktbeschreibung

Das Rührwerk R5 ist eine kraftvolle Küchenmaschine für Hefeteig, Rührkuchen, Sahne und vieles mehr. Das Planetenrührwerk bewegt das Werkzeug gleichzeitig um die eigene Achse und im Kreis durch die Schüssel, sodass alle Zutaten gleichmäßig erfasst werden. Das Gehäuse aus lackiertem Aluminium-Druckguss macht die Maschine standfest und langlebig.

**Preis:** 549,00 € inkl. MwSt. **Farben:** Graphit, Kreideweiß, Salbeigrün

## Technische Daten

| Merkmal | Wert |
| Leistung | 1.200 Watt |
| Anschluss | 230 V / 50 Hz |
| Rührschüssel | Edelstahl, 5,5 Liter, mit Griff |
| Geschwindigkeiten | 6 Stufen und Pulsfunktion |
| Rührsystem | Planetenrührwerk |
| Gehäuse | Aluminium-Druckguss, lackiert |
| Maße (H × B × T) | 36 × 24 × 38 cm |
| Gewicht | 9,4 kg |
| Kabellänge | 1,2 m |
| Geräuschentwicklung | max. 78 dB(A) |
| Zeitschaltuhr | bis 30 Minuten, mit automatischer Abschaltung |
| Maximale Mehlmenge für Hefeteig | 1,5 kg |
| Lieferumfang | Rührschüssel, Knethaken, Flachrührer, Schneebesen, Spritzschutz mit Einfüllöffnung, Bedienungsanleitung |

## Werkzeuge und Geschwindigkeitsstufen

| Werkzeug | Stufe | Geeignet für |
| Knethaken | 1–2 | Hefeteig, Brotteig, Pizzateig, Nudelteig |
| Flachrührer | 2–4 | Rührteig, Mürbeteig, Kekse, Hackfleischmasse, Kartoffelpüree |
| Schneebesen | 5–6 | Sahne, Eischnee, Biskuitmasse, Mayonnaise |
| alle Werkzeuge | Puls | kurzes Untermischen, zum Beispiel von Rosinen oder Schokoladenstückchen |

Kneten Sie schweren Teig höchstens 8 Minuten am Stück. Für Eischnee benötigen Sie mindestens 2 Eiweiß, damit der Schneebesen die Masse erfassen kann.

## Bedienung

1. Drücken Sie die Entriegelungstaste an der Seite und kippen Sie den Maschinenkopf nach oben.
2. Setzen Sie die Schüssel in die Halterung und drehen Sie sie im Uhrzeigersinn fest.
3. Stecken Sie das Werkzeug auf die Antriebswelle, drücken Sie es nach oben und drehen Sie es, bis es einrastet.
4. Senken Sie den Kopf ab, bis er hörbar einrastet.
5. Wählen Sie die Geschwindigkeit. Die Maschine läuft mit Sanftanlauf an, damit nichts aus der Schüssel spritzt.

## Optionales Zubehör

Unter der Abdeckkappe an der Vorderseite befindet sich der Zubehöranschluss. Dafür bieten wir an:

- Fleischwolf-Aufsatz FW5 mit drei Lochscheiben: 89,00 €
- Gemüseschneider-Aufsatz GS5 mit vier Trommeln: 79,00 €

Die Aufsätze werden auf Stufe 3 bis 4 betrieben.

## Reinigung und Pflege

- Ziehen Sie vor der Reinigung immer den Netzstecker.
- Rührschüssel, Knethaken und Flachrührer sind spülmaschinengeeignet.
- Schneebesen und Spritzschutz spülen Sie bitte von Hand.
- Wischen Sie das Gehäuse mit einem feuchten Tuch ab. Verwenden Sie keine Scheuermittel und tauchen Sie das Gerät nie in Wasser.

## Fehlerbehebung

| Problem | Mögliche Ursache | Lösung |
| Die Maschine startet nicht. | Der Maschinenkopf ist nicht eingerastet. | Kopf vollständig absenken, bis er hörbar einrastet. |
| Die Maschine startet nach dem Einstecken nicht. | Der Drehregler stand beim Einstecken nicht auf 0; aus Sicherheitsgründen läuft das Gerät dann nicht an. | Drehregler auf 0 stellen und die Stufe neu wählen. |
| Die Maschine bleibt beim Kneten stehen. | Der Überlastschutz hat ausgelöst. | Gerät 15 Minuten abkühlen lassen. Vorher den Drehregler auf 0 stellen, danach die Teigmenge verringern. |
| Die Maschine wandert auf der Arbeitsfläche. | Zu viel Teig oder zu hohe Geschwindigkeit. | Auf Stufe 1–2 kneten; Saugfüße und Arbeitsfläche reinigen. |
| Das Werkzeug schlägt an die Schüssel oder erfasst die Zutaten am Boden nicht. | Der Abstand zwischen Werkzeug und Schüsselboden ist verstellt. | Abstand mit der Einstellschraube am Gelenk auf 2 mm einstellen. |
| Leichter Geruch bei den ersten Anwendungen. | Normaler Einlaufvorgang des Motors. | Kein Handlungsbedarf; der Geruch verschwindet nach einigen Betriebsstunden. |

## Sicherheitshinweise

- Greifen Sie nie in die laufende Maschine und schalten Sie den Drehregler auf 0, bevor Sie den Maschinenkopf hochklappen.
- Lassen Sie das Gerät nicht unbeaufsichtigt laufen, wenn Kinder in der Nähe sind.
- Füllen Sie keine kochend heißen Flüssigkeiten in die Schüssel.
- Betreiben Sie das Gerät nicht mit beschädigtem Netzkabel. Ein beschädigtes Kabel darf nur von unserer Werkstatt oder einer Elektrofachkraft ersetzt werden.

## Hinweise

Das Rührwerk R5 ist für den Gebrauch im Haushalt konzipiert. Werkzeuge, Schüssel und andere Teile können Sie einzeln als Ersatzteil nachbestellen.

Hersteller: Kochwerk Lindner GmbH, Kassel · WEEE-Reg.-Nr. DE 48213765
"""

GUSSEISENPFANNE = """
# Produktdatenblatt Gusseisenpfanne „Lindner Guss“

Bratpfanne aus Gusseisen in vier Größen · Stand: Oktober 2026

## Produktbeschreibung

Die Gusseisenpfanne „Lindner Guss“ wird aus einem Stück gegossen: Pfannenkörper und Griff bilden eine Einheit ohne Nieten oder Schrauben. Die Innenseite ist feingeschliffen und dadurch deutlich glatter als bei vielen anderen Gusspfannen. Ab Werk ist die Pfanne bereits mit Rapsöl vorgebrannt und sofort einsatzbereit.

Gusseisen speichert Wärme hervorragend und gibt sie gleichmäßig ab. Die Pfanne eignet sich daher besonders zum scharfen Anbraten von Steaks, für Bratkartoffeln, Rösti und Pfannkuchen – und sie kann direkt in den Backofen.

## Größen und Preise

| Durchmesser oben | Bodendurchmesser | Höhe | Gewicht | Gegengriff | Preis |
| 20 cm | 15 cm | 4,5 cm | 1,9 kg | nein | 59,00 € |
| 24 cm | 18 cm | 5 cm | 2,5 kg | nein | 69,00 € |
| 28 cm | 21,5 cm | 5,5 cm | 3,2 kg | ja | 84,00 € |
| 32 cm | 25 cm | 5,5 cm | 4,1 kg | ja | 99,00 € |

## Material und Eigenschaften

- Material: Grauguss, Wandstärke 4 mm, Bodenstärke 5 mm
- Oberfläche: innen feingeschliffen, ab Werk mit Rapsöl vorgebrannt
- Geeignet für Gas, Elektro, Glaskeramik, Induktion, Backofen, Grill und offenes Feuer
- Backofenfest bis 300 °C
- Ohne Beschichtung

## Einbrennen vor dem ersten Gebrauch

Obwohl die Pfanne vorgebrannt ist, empfehlen wir vor dem ersten Gebrauch ein zusätzliches Einbrennen. Dadurch wird die Patina kräftiger und die Antihaftwirkung besser.

1. Spülen Sie die Pfanne mit heißem Wasser ohne Spülmittel aus und trocknen Sie sie gründlich ab.
2. Erwärmen Sie die Pfanne 2 Minuten auf dem Herd, damit die Restfeuchte verdampft.
3. Reiben Sie die Pfanne innen und außen hauchdünn mit einem Öl mit hohem Rauchpunkt ein, zum Beispiel raffiniertem Rapsöl oder Erdnussöl. Wischen Sie überschüssiges Öl mit Küchenpapier gründlich ab – die Pfanne soll fast trocken aussehen.
4. Stellen Sie die Pfanne kopfüber in den Backofen und brennen Sie sie bei 250 °C eine Stunde lang ein. Legen Sie ein Blech darunter, um abtropfendes Öl aufzufangen.
5. Lassen Sie die Pfanne im ausgeschalteten Backofen abkühlen.

Wiederholen Sie den Vorgang zwei- bis dreimal. Nicht geeignet zum Einbrennen sind Butter und natives Olivenöl, weil sie zu schnell verbrennen. Die Patina baut sich mit jeder Benutzung weiter auf; braten Sie in den ersten Wochen daher bevorzugt mit etwas mehr Fett.

## Tägliche Pflege

- Reinigen Sie die Pfanne am besten noch warm mit heißem Wasser und einer Spülbürste.
- Verwenden Sie für die tägliche Reinigung kein Spülmittel. Ein Tropfen mildes Spülmittel ab und zu schadet der Patina jedoch nicht.
- Die Pfanne gehört nie in die Spülmaschine und sollte nicht im Wasser eingeweicht werden.
- Trocknen Sie die Pfanne sofort ab und stellen Sie sie kurz auf die warme Herdplatte, damit sie vollständig trocknet.
- Reiben Sie die Pfanne anschließend hauchdünn mit Öl ein.
- Lagern Sie die Pfanne trocken. Wenn Sie Pfannen stapeln, legen Sie ein Küchenpapier dazwischen.
- Lassen Sie säurehaltige Speisen wie Tomatensauce, Wein oder Essig nicht lange in der Pfanne, und bewahren Sie keine Speisen darin auf. Säure greift die Patina an.

## Verwendung auf Induktion

Die Gusseisenpfanne ist für alle Induktionskochfelder geeignet. Damit Kochfeld und Pfanne lange halten, beachten Sie bitte:

- Heizen Sie die Pfanne langsam auf: zunächst 3–4 Minuten auf mittlerer Stufe, danach können Sie die Leistung erhöhen.
- Verwenden Sie die Booster- oder Powerstufe nie für die leere Pfanne. Das sehr schnelle Aufheizen kann zu Spannungsrissen oder einem Verzug des Bodens führen.
- Wählen Sie eine Kochzone, die zum Bodendurchmesser der Pfanne passt. Für die 32-cm-Pfanne eignet sich eine Bräterzone oder eine flexible Kochzone.
- Heben Sie die Pfanne an, statt sie zu schieben. Der raue Guss an der Unterseite kann sonst Kratzer auf der Glaskeramik hinterlassen.
- Ein leises Brummen beim Kochen auf Induktion ist normal und kein Fehler.

## Rost und Aufarbeitung

- **Leichter Flugrost:** Mit etwas Öl und Küchenpapier auswischen und die Pfanne danach wie gewohnt benutzen.
- **Stärkerer Rost:** Den Rost mit Stahlwolle bis auf den blanken Guss entfernen, die Pfanne gründlich reinigen und anschließend wie oben beschrieben neu einbrennen.
- **Klebrige Oberfläche:** Es wurde zu viel Öl verwendet. Brennen Sie die Pfanne bei 250 °C eine Stunde lang nach.
- **Schwarze Partikel im Essen:** Es handelt sich um lose Reste der Patina. Sie sind gesundheitlich unbedenklich. Reinigen Sie die Pfanne gründlich und brennen Sie sie bei Bedarf neu ein.

## Sicherheitshinweise

- Der Griff wird beim Braten und im Backofen sehr heiß. Benutzen Sie Topflappen oder eine Silikon-Griffhülle.
- Schrecken Sie die heiße Pfanne nie mit kaltem Wasser ab.
- Erhitzen Sie die leere Pfanne nicht über längere Zeit auf höchster Stufe.
"""

AGB = """
# Allgemeine Geschäftsbedingungen (AGB)

Kochwerk Lindner GmbH · Stand: 1. Juli 2026

## § 1 Geltungsbereich

(1) Diese Allgemeinen Geschäftsbedingungen gelten für alle Verträge, die über unseren Onlineshop unter kochwerk-lindner.de zwischen der Kochwerk Lindner GmbH, Leipziger Straße 112, 34123 Kassel (im Folgenden „wir“) und unseren Kundinnen und Kunden geschlossen werden.

(2) Verbraucher ist jede natürliche Person, die ein Rechtsgeschäft zu Zwecken abschließt, die überwiegend weder ihrer gewerblichen noch ihrer selbstständigen beruflichen Tätigkeit zugerechnet werden können. Unternehmer ist eine natürliche oder juristische Person oder eine rechtsfähige Personengesellschaft, die bei Abschluss eines Rechtsgeschäfts in Ausübung ihrer gewerblichen oder selbstständigen beruflichen Tätigkeit handelt.

(3) Abweichende Bedingungen unserer Kundinnen und Kunden erkennen wir nicht an, es sei denn, wir stimmen ihnen ausdrücklich schriftlich zu.

## § 2 Vertragsschluss

(1) Die Darstellung der Produkte im Onlineshop stellt kein rechtlich bindendes Angebot dar, sondern eine Aufforderung zur Bestellung.

(2) Durch Anklicken der Schaltfläche „Zahlungspflichtig bestellen“ geben Sie ein verbindliches Angebot zum Kauf der im Warenkorb enthaltenen Waren ab. Vor dem Absenden können Sie Ihre Eingaben jederzeit prüfen und korrigieren.

(3) Unmittelbar nach Eingang Ihrer Bestellung erhalten Sie eine automatische Eingangsbestätigung per E-Mail. Diese Eingangsbestätigung stellt noch keine Annahme Ihres Angebots dar.

(4) Der Vertrag kommt zustande, wenn wir Ihr Angebot durch eine Versandbestätigung per E-Mail oder durch Lieferung der Ware annehmen. Bei Zahlung per Vorkasse nehmen wir Ihr Angebot mit der Zahlungsaufforderung an. Nehmen wir Ihr Angebot nicht innerhalb von 5 Werktagen an, sind Sie nicht mehr daran gebunden.

## § 3 Vertragssprache und Speicherung des Vertragstextes

Vertragssprache ist Deutsch. Wir speichern den Vertragstext. Die Bestelldaten und diese AGB senden wir Ihnen per E-Mail zu. Wenn Sie ein Kundenkonto haben, können Sie Ihre früheren Bestellungen jederzeit im Bereich „Meine Bestellungen“ einsehen.

## § 4 Preise und Versandkosten

(1) Alle Preise sind Endpreise und enthalten die gesetzliche Mehrwertsteuer.

(2) Zusätzlich zu den Preisen fallen gegebenenfalls Versandkosten an. Versandkosten, Lieferzeiten und Lieferbedingungen sind auf unserer Informationsseite „Versand und Lieferung“ beschrieben und werden im Bestellvorgang deutlich angezeigt.

## § 5 Lieferung

(1) Wir liefern nur in die auf der Seite „Versand und Lieferung“ genannten Länder.

(2) Ist ein bestellter Artikel nicht verfügbar, weil wir von unserem Lieferanten ohne eigenes Verschulden nicht beliefert werden, informieren wir Sie unverzüglich und erstatten bereits geleistete Zahlungen unverzüglich zurück.

## § 6 Zahlung

(1) Die verfügbaren Zahlungsarten sind auf unserer Informationsseite „Zahlung“ beschrieben.

(2) Bei Vorkasse ist der Kaufpreis mit Vertragsschluss fällig. Beim Kauf auf Rechnung mit Klarna gelten die Zahlungsbedingungen von Klarna.

(3) Ein Recht zur Aufrechnung steht Ihnen nur zu, wenn Ihre Gegenansprüche rechtskräftig festgestellt, unbestritten oder von uns anerkannt sind.

## § 7 Eigentumsvorbehalt

Die Ware bleibt bis zur vollständigen Bezahlung unser Eigentum. Gegenüber Unternehmern behalten wir uns das Eigentum an der Ware bis zur vollständigen Begleichung aller Forderungen aus der laufenden Geschäftsbeziehung vor.

## § 8 Widerrufsrecht

Verbraucherinnen und Verbrauchern steht ein gesetzliches Widerrufsrecht zu. Einzelheiten finden Sie in unserer Widerrufsbelehrung auf der Seite „Rücksendung und Widerrufsrecht“. Dort ist auch unser freiwilliges Rückgabeversprechen beschrieben.

## § 9 Mängelhaftung und Garantie

(1) Es gelten die gesetzlichen Vorschriften zur Mängelhaftung.

(2) Gegenüber Unternehmern beträgt die Verjährungsfrist für Mängelansprüche bei neu hergestellten Sachen ein Jahr ab Ablieferung. Für Kaufleute gilt die Untersuchungs- und Rügepflicht nach § 377 HGB.

(3) Informationen zu unserer Herstellergarantie finden Sie im Dokument „Garantie und Gewährleistung“.

## § 10 Haftung

(1) Wir haften unbeschränkt bei Vorsatz und grober Fahrlässigkeit, bei Verletzung von Leben, Körper oder Gesundheit sowie nach den Vorschriften des Produkthaftungsgesetzes.

(2) Bei leicht fahrlässiger Verletzung einer wesentlichen Vertragspflicht ist unsere Haftung auf den vorhersehbaren, vertragstypischen Schaden begrenzt. Wesentliche Vertragspflichten sind solche, deren Erfüllung die ordnungsgemäße Durchführung des Vertrags überhaupt erst ermöglicht und auf deren Einhaltung Sie regelmäßig vertrauen dürfen.

(3) Im Übrigen ist unsere Haftung für leichte Fahrlässigkeit ausgeschlossen.

## § 11 Streitbeilegung

Wir sind nicht bereit und nicht verpflichtet, an Streitbeilegungsverfahren vor einer Verbraucherschlichtungsstelle teilzunehmen. Bei Fragen oder Beschwerden wenden Sie sich bitte direkt an unseren Kundenservice; wir bemühen uns um eine einvernehmliche Lösung.

## § 12 Schlussbestimmungen

(1) Es gilt das Recht der Bundesrepublik Deutschland unter Ausschluss des UN-Kaufrechts. Bei Verbraucherinnen und Verbrauchern gilt diese Rechtswahl nur, soweit dadurch nicht der Schutz entzogen wird, der durch zwingende Bestimmungen des Rechts des Staates gewährt wird, in dem sie ihren gewöhnlichen Aufenthalt haben.

(2) Sind Sie Kaufmann, juristische Person des öffentlichen Rechts oder öffentlich-rechtliches Sondervermögen, ist Gerichtsstand für alle Streitigkeiten aus diesem Vertrag Kassel.

(3) Sollten einzelne Bestimmungen dieser AGB unwirksam sein, bleibt die Wirksamkeit der übrigen Bestimmungen unberührt.
"""

GARANTIE = """
# Garantie und Gewährleistung

Wir fertigen unsere Produkte für ein langes Leben in der Küche. Sollte trotzdem einmal etwas nicht in Ordnung sein, sind wir für Sie da. Hier erklären wir den Unterschied zwischen der gesetzlichen Gewährleistung und unserer freiwilligen Herstellergarantie und wie Sie einen Garantie- oder Gewährleistungsfall melden.

## Gesetzliche Gewährleistung

Für alle Produkte, die Sie bei uns kaufen, gilt die gesetzliche Gewährleistung von 2 Jahren ab Lieferung. Liegt ein Mangel vor, haben Sie Anspruch auf Nacherfüllung, also nach Ihrer Wahl auf Reparatur oder Ersatz. Die Kosten für Versand, Arbeit und Material tragen in diesem Fall wir.

Zeigt sich ein Mangel innerhalb der ersten 12 Monate nach Lieferung, wird vermutet, dass er bereits bei der Lieferung vorhanden war. Danach müssen Sie im Streitfall nachweisen, dass der Mangel schon bei Lieferung bestand.

Verschleiß durch bestimmungsgemäßen Gebrauch ist kein Mangel – zum Beispiel eine mit der Zeit stumpf gewordene Messerschneide oder nach vielen Jahren abgenutzte Mahlsteine.

## 5 Jahre Herstellergarantie auf Gusseisen

Zusätzlich zur gesetzlichen Gewährleistung geben wir als Hersteller eine Garantie von 5 Jahren auf alle Gusseisenpfannen der Serie „Lindner Guss“. Die Garantie beginnt mit dem Kaufdatum. Sie gilt für Käufe in unserem Onlineshop, im Werksverkauf und bei autorisierten Fachhändlern in Deutschland, Österreich und der Schweiz.

### Was die Garantie abdeckt

- Risse und Brüche im Guss
- Verzug des Pfannenbodens um mehr als 1 mm, durch den die Pfanne nicht mehr plan auf dem Kochfeld steht
- Materialfehler wie Lufteinschlüsse (Lunker), die die Nutzung beeinträchtigen

### Was die Garantie nicht abdeckt

- Rost durch unsachgemäße Pflege, zum Beispiel nach dem Spülen in der Spülmaschine oder durch Stehenlassen im Wasser
- Abnutzung, Abplatzen oder Verfärbungen der Einbrennschicht (Patina); die Einbrennschicht lässt sich jederzeit erneuern
- Schäden durch Sturz oder Schlag
- Schäden durch Überhitzung, etwa durch langes Leererhitzen auf höchster Stufe, oder durch Thermoschock beim Abschrecken mit kaltem Wasser
- Schäden durch eigene Reparaturversuche oder Umbauten
- rein optische Veränderungen, die die Funktion nicht beeinträchtigen

Bei gewerblicher Nutzung, zum Beispiel in der Gastronomie, beträgt die Garantiezeit 2 Jahre.

### Was wir im Garantiefall leisten

Im Garantiefall erhalten Sie kostenlos eine neue Pfanne desselben Modells oder, falls dieses nicht mehr hergestellt wird, eines gleichwertigen Modells. Die Versandkosten für die Einsendung und die Ersatzlieferung übernehmen wir. Durch eine Garantieleistung beginnt die Garantiezeit nicht neu.

## Andere Produkte

Auf Messer, Edelstahlpfannen, das Mahlwerk M2 und das Rührwerk R5 geben wir keine zusätzliche Herstellergarantie; hier gilt die gesetzliche Gewährleistung. Für Reparaturen außerhalb der Gewährleistung bieten wir einen Reparaturservice an, der im Dokument „Ersatzteile und Reparatur“ beschrieben ist.

Bei Messern sind Ausbrüche in der Schneide, die durch harte Schneidunterlagen, Knochen oder Tiefkühlware entstehen, kein Mangel.

## So melden Sie einen Garantie- oder Gewährleistungsfall

1. Schreiben Sie eine E-Mail an service@kochwerk-lindner.de mit dem Betreff „Garantie“ oder „Reklamation“.
2. Nennen Sie Ihre Bestellnummer oder fügen Sie den Kaufbeleg (Rechnung oder Kassenbon) bei. Bei Käufen im Fachhandel benötigen wir den Kaufbeleg des Händlers.
3. Beschreiben Sie den Fehler und fügen Sie aussagekräftige Fotos bei.

Wir melden uns innerhalb von 3 Werktagen mit dem weiteren Vorgehen. In vielen Fällen können wir schon anhand der Fotos entscheiden; andernfalls senden wir Ihnen ein kostenloses Versandetikett. Nach Eingang der Pfanne prüfen wir sie innerhalb von 5 Werktagen.

## Verhältnis zur gesetzlichen Gewährleistung

Die Herstellergarantie gilt zusätzlich zu Ihren gesetzlichen Rechten und schränkt diese nicht ein. Innerhalb der ersten 2 Jahre können Sie frei wählen, ob Sie Ansprüche aus der Gewährleistung oder aus der Garantie geltend machen.

Garantiegeber: Kochwerk Lindner GmbH, Leipziger Straße 112, 34123 Kassel
"""

ERSATZTEILE = """
# Ersatzteile und Reparatur

Wir sind überzeugt: Gutes Küchenwerkzeug soll man reparieren können. Deshalb halten wir Ersatzteile für alle unsere Produkte mindestens 10 Jahre nach Ende der Produktion vorrätig und reparieren unsere Elektrogeräte in der eigenen Werkstatt in Kassel.

## Ersatzteile bestellen

Ersatzteile bestellen Sie im Onlineshop in der Kategorie „Ersatzteile“ oder telefonisch über unseren Kundenservice. Für die Versandkosten gelten die üblichen Bedingungen. Bei Teilen für das Mahlwerk M2 und das Rührwerk R5 halten Sie bitte die Seriennummer bereit. Sie steht auf dem Typenschild an der Unterseite des Geräts.

## Ersatzteilliste

### Mahlwerk M2

| Artikelnummer | Ersatzteil | Preis |
| MW2-01 | Mahlsteinsatz (oberer und unterer Stein, vormontiert) | 94,00 € |
| MW2-02 | Trichter aus Buche | 39,00 € |
| MW2-03 | Einstellschlüssel | 6,50 € |
| MW2-04 | Reinigungspinsel | 4,90 € |
| MW2-05 | Netzkabel | 15,50 € |
| MW2-06 | Klappe für den Mehlauslauf | 8,90 € |

Der Tausch des Mahlsteinsatzes ist mit dem Einstellschlüssel ohne weiteres Werkzeug möglich. Eine bebilderte Anleitung liegt jedem Mahlsteinsatz bei.

### Rührwerk R5

| Artikelnummer | Ersatzteil | Preis |
| RW5-01 | Edelstahlschüssel 5,5 Liter | 64,00 € |
| RW5-02 | Knethaken | 24,90 € |
| RW5-03 | Flachrührer | 22,90 € |
| RW5-04 | Schneebesen | 27,90 € |
| RW5-05 | Spritzschutz | 16,90 € |
| RW5-06 | Saugfüße (Satz mit 4 Stück) | 7,50 € |
| RW5-07 | Abdeckkappe für den Zubehöranschluss | 5,40 € |

### Pfannen und Messer

| Artikelnummer | Zubehör oder Ersatzteil | Preis |
| GD-24 | Glasdeckel für Pfanne 24 cm | 24,90 € |
| GD-28 | Glasdeckel für Pfanne 28 cm | 27,90 € |
| GH-01 | Silikon-Griffhülle für Gusseisenpfannen | 7,90 € |
| KP-01 | Griffschraube für Edelstahlpfanne „Kassel Pro“ | 3,90 € |
| KS-20 | Klingenschutz für Messer bis 20 cm | 4,50 € |

## Reparaturservice für Elektrogeräte

Unsere Werkstatt repariert das Mahlwerk M2 und das Rührwerk R5. Geräte anderer Hersteller können wir leider nicht reparieren.

So gehen Sie vor:

1. Melden Sie die Reparatur bei unserer Werkstatt an: telefonisch unter 0561 920 47-55 (Montag bis Donnerstag 9:00–15:00 Uhr) oder per E-Mail an service@kochwerk-lindner.de mit dem Betreff „Reparatur“. Sie erhalten eine Reparaturnummer.
2. Verpacken Sie das Gerät sicher, am besten im Originalkarton. Leeren Sie beim Mahlwerk M2 vorher den Trichter.
3. Schreiben Sie die Reparaturnummer gut sichtbar außen auf das Paket und senden Sie es an: Kochwerk Lindner GmbH, Werkstatt, Leipziger Straße 112, 34123 Kassel.

Ist das Gerät noch in der gesetzlichen Gewährleistung, ist die Reparatur einschließlich Hin- und Rückversand für Sie kostenlos. Bitte fügen Sie in diesem Fall eine Kopie des Kaufbelegs bei.

## Kostenvoranschlag

Außerhalb der Gewährleistung erstellen wir Ihnen vor jeder Reparatur einen Kostenvoranschlag. Dafür berechnen wir eine Prüfpauschale von 29,00 €. Wenn Sie die Reparatur beauftragen, wird die Prüfpauschale mit dem Reparaturpreis verrechnet.

- Den Kostenvoranschlag erhalten Sie innerhalb von 5 Werktagen nach Eingang des Geräts per E-Mail.
- Sie haben 14 Tage Zeit, sich zu entscheiden.
- Lehnen Sie die Reparatur ab, berechnen wir die Prüfpauschale und den Rückversand. Alternativ entsorgen wir das Gerät auf Ihren Wunsch kostenlos.
- Wenn Sie auf dem Reparaturauftrag eine Reparaturfreigabe bis 80 € erteilen, reparieren wir ohne Kostenvoranschlag, sofern die Kosten diesen Betrag nicht übersteigen.

Der Arbeitslohn beträgt 58 € pro Stunde und wird je angefangene 15 Minuten abgerechnet. Dazu kommen die Preise der Ersatzteile laut Ersatzteilliste. Für den Rückversand eines reparierten Geräts berechnen wir 6,90 €.

Die Reparaturdauer beträgt in der Regel 7–10 Werktage nach Ihrer Freigabe. Auf die bei der Reparatur ausgetauschten Teile geben wir 12 Monate Gewährleistung.

## Aufarbeitung von Gusseisenpfannen

Eine stark verrostete oder verkrustete Gusseisenpfanne muss nicht entsorgt werden. Mit unserem Aufarbeitungsservice entrosten, schleifen und brennen wir Ihre Pfanne in der Werkstatt neu ein. Der Service kostet 25,00 € pro Pfanne zuzüglich 6,90 € für den Rückversand. Wir bearbeiten nur Pfannen der Serie „Lindner Guss“. Die Bearbeitungszeit beträgt etwa 10 Werktage.
"""

FIRMENKUNDEN = """
# Firmenkunden und Großbestellungen

Restaurants, Hotels, Kantinen, Kochschulen und Unternehmen schätzen unsere robusten Pfannen und Messer. Für Firmenkunden bieten wir Staffelrabatte, den Kauf auf Rechnung und persönliche Beratung. Auch Werbegeschenke mit Ihrem Firmenlogo sind möglich.

## Firmenkundenkonto

Für Großbestellungen eröffnen Sie bitte ein Firmenkundenkonto. Die Registrierung finden Sie im Onlineshop unter „Firmenkunden“. Bitte laden Sie dabei Ihre Gewerbeanmeldung hoch oder geben Sie Ihre Umsatzsteuer-Identifikationsnummer an. Wir schalten Ihr Konto innerhalb von 2 Werktagen frei. Im Firmenkundenkonto werden alle Preise netto angezeigt.

## Staffelrabatte

Auf den Netto-Warenwert einer Bestellung gewähren wir folgende Rabatte:

| Netto-Warenwert pro Bestellung | Rabatt |
| ab 500 € | 5 % |
| ab 1.500 € | 8 % |
| ab 3.000 € | 12 % |
| ab 10.000 € | individuelles Angebot |

Die Staffelrabatte werden im Warenkorb automatisch abgezogen. Sie sind nicht mit Rabattcodes kombinierbar und gelten nicht für Geschenkgutscheine und den Schleifservice.

## Kauf auf Rechnung für Gastronomie und Unternehmen

Firmenkunden können direkt bei uns auf Rechnung kaufen – ohne Zahlungsdienstleister. Es gelten folgende Bedingungen:

- Zahlungsziel: 30 Tage netto ab Rechnungsdatum
- Skonto: 3 % bei Zahlung innerhalb von 10 Tagen
- Die erste Bestellung liefern wir gegen Vorkasse oder nach einer Bonitätsprüfung.
- Das Rechnungslimit beträgt zunächst 5.000 € an offenen Rechnungen und kann nach Absprache erhöht werden.

Unsere Rechnungen weisen die Umsatzsteuer gesondert aus und erfüllen die Anforderungen an den Vorsteuerabzug. Sie erhalten sie als E-Rechnung im ZUGFeRD-Format per E-Mail. Auf Wunsch fassen wir alle Bestellungen eines Monats in einer Sammelrechnung zusammen.

Für Kunden in Österreich mit gültiger UID-Nummer liefern wir als innergemeinschaftliche Lieferung ohne deutsche Umsatzsteuer.

## Lieferung großer Mengen

Großbestellungen von Firmenkunden mit einem Gesamtgewicht über 31,5 kg liefern wir per Spedition auf einer Palette frei Bordsteinkante. Die Lieferzeit beträgt dann 5–8 Werktage. Die Frachtkosten für eine Palette innerhalb Deutschlands betragen 95,00 €; ab 2.000 € Netto-Warenwert liefern wir die Palette frachtfrei. Für Palettenlieferungen nach Österreich und in die Schweiz erstellen wir Ihnen ein individuelles Angebot.

## Hinweise für die Gastronomie

Unsere Gusseisenpfannen sind für den harten Alltag in Profiküchen geeignet; für die Gastronomie empfehlen wir besonders die Größen 28 cm und 32 cm. Bitte beachten Sie, dass für gewerblich genutzte Produkte andere Garantiebedingungen gelten als für private Käufe.

Gastronomiebetriebe können eine Gusseisenpfanne 14 Tage kostenlos testen, bevor sie eine größere Menge bestellen. Sprechen Sie uns dazu einfach an.

Das Mahlwerk M2 und das Rührwerk R5 sind Haushaltsgeräte und für den Dauerbetrieb in Großküchen nicht ausgelegt.

## Werbegeschenke mit Ihrem Logo

Messer der Serie „Lindner Schneide“ und Gusseisenpfannen versehen wir ab 25 Stück mit einer Lasergravur Ihres Firmenlogos. Für die Einrichtung berechnen wir einmalig 49,00 €, für die Gravur 3,50 € pro Stück. Die Lieferzeit für gravierte Werbegeschenke beträgt etwa 3 Wochen.

Geschenkgutscheine können Sie als Firmenkunde ab 10 Stück auch auf Rechnung kaufen, zum Beispiel als Mitarbeitergeschenk.

## Ihr Ansprechpartner

Markus Albers, Vertrieb Firmenkunden
Telefon: 0561 920 47-60
E-Mail: b2b@kochwerk-lindner.de

Auf Anfragen antworten wir innerhalb von 2 Werktagen mit einem individuellen Angebot. Wenn Sie unsere Produkte als Händler weiterverkaufen möchten, wenden Sie sich bitte ebenfalls an Herrn Albers.
"""

# Dateiname -> (Format, Text)
DOCUMENTS: dict[str, tuple[str, str]] = {
    "produktdatenblatt-mahlwerk-m2.pdf": ("pdf", MAHLWERK_M2),
    "produktdatenblatt-ruehrwerk-r5.pdf": ("pdf", RUEHRWERK_R5),
    "produktdatenblatt-gusseisenpfanne.pdf": ("pdf", GUSSEISENPFANNE),
    "agb.pdf": ("pdf", AGB),
    "garantie-und-gewaehrleistung.docx": ("docx", GARANTIE),
    "ersatzteile-und-reparatur.docx": ("docx", ERSATZTEILE),
    "firmenkunden-und-grossbestellungen.docx": ("docx", FIRMENKUNDEN),
}

# ---------------------------------------------------------------------------
# Mini-Markdown-Parser
# ---------------------------------------------------------------------------


def parse(text: str) -> list[tuple]:
    """Zerlegt den Text in Blöcke: (h1|h2|h3|p, text), (ul|ol, [items]), (table, rows)."""
    blocks: list[tuple] = []
    para: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(("p", "\n".join(para)))
            para.clear()

    for raw in textwrap.dedent(text).strip().splitlines():
        line = raw.strip()
        if not line:
            flush_para()
            continue
        m_head = re.match(r"^(#{1,3}) (.+)$", line)
        m_ol = re.match(r"^\d+\. (.+)$", line)
        if m_head:
            flush_para()
            blocks.append((f"h{len(m_head.group(1))}", m_head.group(2)))
        elif line.startswith("- ") or m_ol:
            flush_para()
            kind = "ul" if line.startswith("- ") else "ol"
            item = line[2:] if kind == "ul" else m_ol.group(1)
            if blocks and blocks[-1][0] == kind:
                blocks[-1][1].append(item)
            else:
                blocks.append((kind, [item]))
        elif line.startswith("|"):
            flush_para()
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue
            if blocks and blocks[-1][0] == "table":
                blocks[-1][1].append(cells)
            else:
                blocks.append(("table", [cells]))
        else:
            # Aufeinanderfolgende Zeilen bilden einen Absatz mit Zeilenumbrüchen
            # (z. B. Adressblöcke).
            para.append(line)
    flush_para()
    return blocks


def split_bold(text: str) -> list[tuple[str, bool]]:
    parts = re.split(r"(\*\*[^*]+\*\*)", text)
    out = []
    for part in parts:
        if not part:
            continue
        if part.startswith("**") and part.endswith("**"):
            out.append((part[2:-2], True))
        else:
            out.append((part, False))
    return out


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------


def build_pdf(path: Path, text: str) -> None:
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import (
        KeepTogether,
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    rl_config.invariant = 1  # reproduzierbare Ausgabe

    blocks = parse(text)
    title = next(b[1] for b in blocks if b[0] == "h1")

    ss = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=ss["Normal"], fontName="Helvetica",
                          fontSize=10, leading=14, alignment=TA_LEFT, spaceAfter=6)
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=12, spaceAfter=0)
    cell_head = ParagraphStyle("cellhead", parent=cell, fontName="Helvetica-Bold")
    h1 = ParagraphStyle("h1", parent=ss["Heading1"], fontName="Helvetica-Bold",
                        fontSize=18, leading=22, spaceAfter=8,
                        textColor=colors.HexColor("#7a2e0e"))
    h2 = ParagraphStyle("h2", parent=ss["Heading2"], fontName="Helvetica-Bold",
                        fontSize=13, leading=17, spaceBefore=12, spaceAfter=6,
                        textColor=colors.HexColor("#7a2e0e"))
    h3 = ParagraphStyle("h3", parent=ss["Heading3"], fontName="Helvetica-Bold",
                        fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)

    def markup(s: str) -> str:
        out = []
        for part, bold in split_bold(s):
            esc = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f"<b>{esc}</b>" if bold else esc)
        return "".join(out).replace("\n", "<br/>")

    width = A4[0] - 4 * cm
    story = []
    for kind, content in blocks:
        if kind == "h1":
            story.append(Paragraph(markup(content), h1))
        elif kind == "h2":
            story.append(Paragraph(markup(content), h2))
        elif kind == "h3":
            story.append(Paragraph(markup(content), h3))
        elif kind == "p":
            story.append(Paragraph(markup(content), body))
        elif kind in ("ul", "ol"):
            items = [ListItem(Paragraph(markup(i), body), leftIndent=14) for i in content]
            story.append(ListFlowable(items, bulletType="bullet" if kind == "ul" else "1",
                                      start="–" if kind == "ul" else 1,
                                      leftIndent=14, bulletFontName="Helvetica",
                                      bulletFontSize=10))
        elif kind == "table":
            ncols = max(len(r) for r in content)
            longest = [max(len(r[c]) if c < len(r) else 0 for r in content) for c in range(ncols)]
            weights = [max(8, min(n, 60)) for n in longest]
            col_w = [width * w / sum(weights) for w in weights]
            data = [[Paragraph(markup(c), cell_head if i == 0 else cell) for c in row]
                    for i, row in enumerate(content)]
            tbl = Table(data, colWidths=col_w, repeatRows=1)
            tbl.setStyle(TableStyle([
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f1e4d8")),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9c8574")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]))
            story.append(tbl)
            story.append(Spacer(1, 8))

    # Überschriften nicht allein am Seitenende stehen lassen
    merged = []
    i = 0
    while i < len(story):
        fl = story[i]
        if isinstance(fl, Paragraph) and fl.style.name in ("h2", "h3") and i + 1 < len(story):
            merged.append(KeepTogether([fl, story[i + 1]]))
            i += 2
            continue
        merged.append(fl)
        i += 1

    class NumberedCanvas(rl_canvas.Canvas):
        """Schreibt „Seite X von Y“ in die Fußzeile."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved = []

        def showPage(self):  # noqa: N802 (reportlab API)
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.setFillColor(colors.HexColor("#555555"))
                self.drawString(2 * cm, 1.2 * cm, f"{COMPANY} · {WEBSITE}")
                self.drawRightString(A4[0] - 2 * cm, 1.2 * cm,
                                     f"Seite {self._pageNumber} von {total}")
                self.drawString(2 * cm, A4[1] - 1.2 * cm, title)
                super().showPage()
            super().save()

    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm,
                            topMargin=2 * cm, bottomMargin=2 * cm,
                            title=title, author=COMPANY, subject=title,
                            creator="scripts/build_demo_docs.py")
    doc.build(merged, canvasmaker=NumberedCanvas)


# ---------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------


def build_docx(path: Path, text: str) -> None:
    from docx import Document
    from docx.shared import Pt

    blocks = parse(text)
    title = next(b[1] for b in blocks if b[0] == "h1")

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)

    def add_runs(par, s: str) -> None:
        for k, line in enumerate(s.split("\n")):
            if k:
                par.add_run().add_break()
            for part, bold in split_bold(line):
                run = par.add_run(part)
                run.bold = bold or None

    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            doc.add_heading(content, level=int(kind[1]))  # "Heading 1/2/3"
        elif kind == "p":
            add_runs(doc.add_paragraph(), content)
        elif kind in ("ul", "ol"):
            style = "List Bullet" if kind == "ul" else "List Number"
            for item in content:
                add_runs(doc.add_paragraph(style=style), item)
        elif kind == "table":
            ncols = max(len(r) for r in content)
            table = doc.add_table(rows=0, cols=ncols)
            table.style = "Table Grid"
            for i, row in enumerate(content):
                cells = table.add_row().cells
                for j, value in enumerate(row):
                    cells[j].text = ""
                    par = cells[j].paragraphs[0]
                    run = par.add_run(value)
                    run.bold = True if i == 0 else None
            doc.add_paragraph()

    section = doc.sections[0]
    section.footer.paragraphs[0].text = f"{COMPANY} · {WEBSITE}"

    props = doc.core_properties
    props.title = title
    props.author = COMPANY
    props.last_modified_by = COMPANY
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.revision = 1

    buf = io.BytesIO()
    doc.save(buf)
    # Zip mit festen Zeitstempeln neu schreiben -> reproduzierbare Datei
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))


# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent.parent / "knowledge"
    parser.add_argument("--out", type=Path, default=default_out,
                        help="Zielverzeichnis (Standard: knowledge/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    for name, (fmt, text) in DOCUMENTS.items():
        target = args.out / name
        if fmt == "pdf":
            build_pdf(target, text)
        elif fmt == "docx":
            build_docx(target, text)
        else:  # pragma: no cover
            raise ValueError(f"unbekanntes Format: {fmt}")
        print(f"{target}  ({target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

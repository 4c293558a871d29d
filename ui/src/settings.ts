// The settings view: the chat model (any GGUF file, described from its header)
// and how answers are made, applied from the next question on; the theme; the
// quick-ask shortcut.
import * as api from "./api";
import type { EmbedderChoice } from "./api";
import { byId, fileName, h } from "./dom";

const gigabytes = (bytes: number) => `${(bytes / 1e9).toFixed(bytes < 1e10 ? 2 : 1)} GB`;
const parameters = (count: number) => (count >= 1e9 ? `${(count / 1e9).toFixed(1)} B` : `${Math.round(count / 1e6)} M`);

const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
let chosenTheme: api.Theme = "system";

/** Sets the window's theme: the system's (following it when it changes), or light or dark whatever it is. */
export function applyTheme(theme: api.Theme) {
  chosenTheme = theme;
  const dark = theme === "dark" || (theme === "system" && systemDark.matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}
systemDark.addEventListener("change", () => applyTheme(chosenTheme));
// Before the saved choice arrives: the system's.
applyTheme("system");

/** A model's header, as the settings show it. */
function modelCard(model: api.ModelInfo, note: string | null): HTMLElement {
  return h(
    "dl",
    { class: "model-facts" },
    h("dt", {}, "Model"),
    h("dd", {}, model.name, note ? h("span", { class: "hint" }, ` · ${note}`) : null),
    h("dt", {}, "File"),
    h("dd", { class: "source-path" }, model.path),
    h("dt", {}, "Architecture"),
    h("dd", {}, model.architecture),
    h("dt", {}, "Size"),
    h("dd", {}, `${gigabytes(model.bytes)} · ${parameters(model.parameters)} parameters`),
    h("dt", {}, "Quantisation"),
    h("dd", {}, model.quantization ?? "not stated in the file"),
    h("dt", {}, "Trained context"),
    h("dd", {}, model.trained_context ? `${model.trained_context.toLocaleString()} tokens` : "not stated in the file"),
    h("dt", {}, "Chat template"),
    h("dd", {}, "yes"),
  );
}

export class SettingsPanel {
  private chosenModel: api.ModelInfo | null = null;
  private current: api.SettingsView | null = null;
  private readonly status = byId("answer-settings-status");
  /** Counts the user's edits, so that settings read before one do not overwrite it. */
  private edits = 0;

  constructor(
    private readonly say: (message: string) => void,
    /** Told of the settings in force after each save. */
    private readonly saved: (settings: api.SettingsView) => void = () => {},
  ) {
    byId("view-settings").addEventListener("input", () => this.edits++);
    byId("view-settings").addEventListener("change", () => this.edits++);
    byId("choose-model").addEventListener("click", () => void this.chooseModel());
    byId("model").addEventListener("change", () => {
      const path = byId<HTMLSelectElement>("model").value;
      const inUse = this.current?.model?.path === path;
      this.chosenModel = null;
      this.showModel(inUse ? (this.current?.model ?? null) : null, null, null);
      this.status.textContent = inUse ? "" : `${fileName(path)} is chosen; Save to use it.`;
    });
    byId("answer-settings").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.saveAnswers();
    });
    byId("theme").addEventListener("change", async () => {
      const theme = byId<HTMLSelectElement>("theme").value as api.Theme;
      applyTheme(theme);
      await api.setTheme(theme).catch((e) => this.say(api.errorMessage(e)));
    });
    byId("embedder-form").addEventListener("submit", (event) => {
      event.preventDefault();
      void this.changeEmbedder();
    });
    byId("shortcut-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        this.show(await api.setShortcut(byId<HTMLInputElement>("shortcut").value));
        this.say("Shortcut saved.");
      } catch (e) {
        byId("shortcut-problem").textContent = api.errorMessage(e);
      }
    });
  }

  async refresh() {
    const edits = this.edits;
    const settings = await api.getSettings(true);
    if (edits === this.edits) this.show(settings);
  }

  show(settings: api.SettingsView) {
    this.current = settings;
    this.chosenModel = null;
    applyTheme(settings.theme);
    byId<HTMLSelectElement>("theme").value = settings.theme;
    byId<HTMLInputElement>("shortcut").value = settings.shortcut;
    byId("shortcut-problem").textContent = settings.shortcut_problem ?? "";
    const answers = settings.answers;
    byId<HTMLSelectElement>("runtime").replaceChildren(
      ...settings.runtimes.map((name) => h("option", { value: name, selected: name === answers.runtime }, name)),
    );
    byId<HTMLInputElement>("threads").value = String(answers.threads);
    byId<HTMLInputElement>("context-tokens").value = String(answers.context_tokens);
    byId<HTMLInputElement>("answer-tokens").value = String(answers.answer_max_tokens);
    byId<HTMLInputElement>("max-sources").value = String(answers.max_sources);
    // Empty: the value calibrated for the embedding model in use.
    byId<HTMLInputElement>("abstain-below").value =
      answers.abstain_below === undefined ? "" : String(Math.round(answers.abstain_below * 1000) / 1000);
    const inUse = settings.embedders.find((offer) => sameEmbedder(offer.choice, settings.embedder)) ?? {
      choice: settings.embedder,
      label: fileName(settings.embedder.model) + (settings.embedder.int8 ? ", int8" : ""),
    };
    byId("embedder-info").textContent = settings.embedder_problem
      ? settings.embedder_problem
      : `Passages are compared by meaning with ${inUse.label}.`;
    const offers = settings.embedders.includes(inUse) ? settings.embedders : [inUse, ...settings.embedders];
    byId<HTMLSelectElement>("embedder").replaceChildren(
      ...offers.map((offer) =>
        h(
          "option",
          { value: embedderValue(offer.choice), selected: offer === inUse, title: offer.choice.model },
          offer.label,
        ),
      ),
    );
    this.listModels(settings.models, settings.model?.path ?? settings.answers.generator);
    this.showModel(settings.model, null, settings.model_problem);
    // Only the full settings (with the model described) say where models run; a save keeps the line.
    if (settings.compute) byId("compute").textContent = `Models run on: ${computeSummary(settings.compute)}`;
  }

  /** The model files to choose from: the models folder's, and the one in use wherever it is. */
  private listModels(models: string[], selected: string) {
    const paths = models.includes(selected) ? models : [selected, ...models];
    byId<HTMLSelectElement>("model").replaceChildren(
      ...paths.map((path) => h("option", { value: path, selected: path === selected, title: path }, fileName(path))),
    );
  }

  private showModel(model: api.ModelInfo | null, note: string | null, problem: string | null) {
    const card = byId("model-card");
    card.replaceChildren(
      ...(model ? [modelCard(model, note)] : []),
      ...(problem ? [h("p", { class: "notice", role: "alert" }, problem)] : []),
    );
  }

  /** Asks (from Rust) and re-embeds the library with the chosen embedding model; progress shows as indexing's. */
  private async changeEmbedder() {
    const value = byId<HTMLSelectElement>("embedder").value;
    const offer = this.current?.embedders.find((o) => embedderValue(o.choice) === value);
    if (!offer || (this.current && sameEmbedder(offer.choice, this.current.embedder))) {
      this.say(`${offer?.label ?? fileName(value)} is the embedding model in use.`);
      return;
    }
    try {
      if (await api.changeEmbedder(offer.choice)) this.say(`Embedding the library with ${offer.label}…`);
    } catch (e) {
      this.say(api.errorMessage(e));
    }
  }

  private async chooseModel() {
    try {
      const model = await api.pickModel();
      if (!model) return;
      this.chosenModel = model;
      this.listModels(this.current?.models ?? [], model.path);
      this.showModel(model, "chosen; Save to use it", null);
      this.status.textContent = "";
    } catch (e) {
      // The file was read and refused: say why, keep what is in use.
      this.showModel(this.current?.model ?? null, null, `That file cannot be used: ${api.errorMessage(e)}`);
    }
  }

  private async saveAnswers() {
    if (!this.current) return;
    const number = (id: string) => Number(byId<HTMLInputElement>(id).value);
    const answers: api.AnswerSettings = {
      generator: this.chosenModel?.path ?? byId<HTMLSelectElement>("model").value ?? this.current.answers.generator,
      runtime: byId<HTMLSelectElement>("runtime").value,
      threads: number("threads"),
      context_tokens: number("context-tokens"),
      answer_max_tokens: number("answer-tokens"),
      max_sources: number("max-sources"),
      abstain_below: byId<HTMLInputElement>("abstain-below").value.trim() === "" ? undefined : number("abstain-below"),
    };
    this.status.textContent = "Saving…";
    try {
      const settings = await api.saveEngineSettings(answers);
      this.show(settings);
      this.saved(settings);
      this.status.textContent = "Saved. The next answer uses these settings.";
    } catch (e) {
      this.status.textContent = api.errorMessage(e);
    }
  }
}

/** An embedder choice as the value of its option: the model's path, and "#int8" when it runs from its int8 copy. */
function embedderValue(choice: EmbedderChoice): string {
  return choice.int8 ? `${choice.model}#int8` : choice.model;
}

function sameEmbedder(a: EmbedderChoice, b: EmbedderChoice): boolean {
  return a.model === b.model && a.int8 === b.int8;
}

/** Where models run, in one line: the GPU, or the CPU and why no GPU. */
export function computeSummary(compute: api.ComputeDevices): string {
  const gpu = compute.gpus[0];
  if (gpu) {
    return `GPU ${gpu.name} (${gpu.description}, ${gigabytes(gpu.free_bytes)} free of ${gigabytes(gpu.memory_bytes)})`;
  }
  const cpu = compute.cpu_features ? `the CPU (${compute.cpu_features})` : "the CPU";
  return compute.cpu_only_because ? `${cpu}; no GPU: ${compute.cpu_only_because}` : cpu;
}

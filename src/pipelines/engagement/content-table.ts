/**
 * The content-metadata table (a compacted topic read as a table, like a Kafka Streams
 * GlobalKTable): contentId → {title, genre}, latest wins, a tombstone deletes. Kept on the main
 * thread: it is small, changes rarely and every shard's results meet it at the sink edge. Genres
 * get small indices (1, 2, …, in order of first appearance) so that shards can carry them in
 * typed arrays; `version` changes with every update (edge caches check it).
 */
export interface ContentInfo {
  readonly title: string;
  readonly genre: string;
}

export class ContentTable {
  private readonly rows = new Map<string, ContentInfo & { readonly genreIndex: number }>();
  private readonly genreIndex = new Map<string, number>();
  private readonly genreNames: string[] = [""];
  version = 0;
  /** Updates applied (puts and deletes). */
  updates = 0;

  get size(): number {
    return this.rows.size;
  }

  put(contentId: string, title: string, genre: string): void {
    let g = this.genreIndex.get(genre);
    if (g === undefined) {
      g = this.genreNames.length;
      this.genreNames.push(genre);
      this.genreIndex.set(genre, g);
    }
    this.rows.set(contentId, { title, genre, genreIndex: g });
    this.version++;
    this.updates++;
  }

  delete(contentId: string): void {
    this.rows.delete(contentId);
    this.version++;
    this.updates++;
  }

  get(contentId: string): ContentInfo | undefined {
    return this.rows.get(contentId);
  }

  /** The genre index (≥ 1) of a content, 0 when the content is unknown. */
  genreOf(contentId: string): number {
    return this.rows.get(contentId)?.genreIndex ?? 0;
  }

  /** The genre of an index from genreOf (index 0: ""). */
  genreName(index: number): string {
    return this.genreNames[index] ?? "";
  }

  /**
   * Applies one message of the content-metadata topic: `value` null is a tombstone for `key`;
   * otherwise a JSON object {contentId, title, genre} (contentId defaults to the key). Returns an
   * error text for a message that is neither (it changes nothing).
   */
  apply(key: string | null, value: string | null): string | undefined {
    if (value === null) {
      if (key === null || key === "") return "tombstone without a key";
      this.delete(key);
      return undefined;
    }
    let o: unknown;
    try {
      o = JSON.parse(value);
    } catch (err) {
      return `not valid JSON: ${(err as Error).message}`;
    }
    const r = (typeof o === "object" && o !== null ? o : {}) as Record<string, unknown>;
    const id = typeof r["contentId"] === "string" && r["contentId"] !== "" ? r["contentId"] : key;
    if (typeof id !== "string" || id === "") return "contentId must be a non-empty string";
    if (typeof r["title"] !== "string") return "title must be a string";
    if (typeof r["genre"] !== "string" || r["genre"] === "") return "genre must be a non-empty string";
    this.put(id, r["title"], r["genre"]);
    return undefined;
  }
}

/**
 * The upload form's progress bar follows XMLHttpRequest upload progress events. jsdom cannot
 * produce upload progress for a real transfer, so a minimal XHR stand-in emits them (the real
 * transfer is covered by the Playwright spec `e2e/datasets.spec.ts`).
 */
import { act, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { renderWithProviders } from "@/test/render";
import { readRecordLimit } from "./record-limit-field";
import { UploadForm } from "./upload-form";

class FakeXhr {
  static last: FakeXhr | null = null;
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  status = 0;
  responseText = "";
  method = "";
  url = "";
  body: FormData | null = null;
  headers: Record<string, string> = {};
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: FormData) {
    this.body = body;
    FakeXhr.last = this;
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total } as ProgressEvent);
  }
  respond(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
  FakeXhr.last = null;
});

async function sent(): Promise<FakeXhr> {
  await vi.waitFor(() => expect(FakeXhr.last).not.toBeNull());
  return FakeXhr.last as FakeXhr;
}

describe("UploadForm", () => {
  it("test_shows_upload_progress_then_hands_over_the_dataset", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const created = vi.fn();
    renderWithProviders(<UploadForm onCreated={created} />);
    const file = new File(["one\ntwo\n"], "lines.txt", { type: "text/plain" });
    await userEvent.upload(screen.getByLabelText("Files"), file);
    await userEvent.click(screen.getByRole("button", { name: "Upload" }));
    const xhr = await sent();
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/v1/datasets/upload");
    expect((xhr.body as FormData).getAll("files")).toHaveLength(1);
    expect((xhr.body as FormData).get("txt_mode")).toBe("line");
    // the multipart body (20 bytes here) is larger than the 8-byte file: the bytes shown are the
    // file's, as the user chose them ("1.57 kB of 1.57 kB" was shown for a 1.17 kB file)
    act(() => xhr.progress(10, 20));
    expect(screen.getByRole("progressbar", { name: "Upload progress" })).toHaveAttribute(
      "aria-valuenow",
      "50",
    );
    expect(screen.getByText(/^4 B of 8 B/)).toBeInTheDocument();
    await act(async () => xhr.respond(201, { id: 3, name: "lines", status: "queued" }));
    await vi.waitFor(() => expect(created).toHaveBeenCalled());
    expect(created.mock.calls[0]?.[0]).toMatchObject({ id: 3 });
    // the form does not follow the import job: it must not say "importing" after the import
    // failed or finished (found by a tester: "uploaded, importing" beside a failed import)
    expect(await screen.findByText(/uploaded; the import's progress is on the dataset's card/))
      .toBeInTheDocument();
    expect(screen.queryByText(/importing/)).toBeNull();
  });

  it("test_shows_the_servers_refusal", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    renderWithProviders(<UploadForm onCreated={vi.fn()} />);
    await userEvent.upload(screen.getByLabelText("Files"), new File(["x"], "big.txt"));
    await userEvent.click(screen.getByRole("button", { name: "Upload" }));
    const xhr = await sent();
    await act(async () =>
      xhr.respond(413, {
        error: { code: "upload_too_large", message: "the upload exceeds the limit", details: {} },
      }),
    );
    expect(await screen.findByRole("alert")).toHaveTextContent("upload_too_large");
  });

  it("test_the_record_limit_a_refusal_names_can_be_raised_here", async () => {
    // a line over max_record_bytes is refused naming the limit; the form had no way to raise it
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    renderWithProviders(<UploadForm onCreated={vi.fn()} />);
    await userEvent.upload(screen.getByLabelText("Files"), new File(["x"], "long.txt"));
    const limit = screen.getByLabelText("Longest line or record (MiB)");
    expect(limit).toHaveValue("64");
    await userEvent.clear(limit);
    await userEvent.type(limit, "abc");
    expect(screen.getByRole("alert")).toHaveTextContent("from 0.001 to 2048");
    expect(screen.getByRole("button", { name: "Upload" })).toBeDisabled();
    await userEvent.clear(limit);
    await userEvent.type(limit, "256");
    await userEvent.click(screen.getByRole("button", { name: "Upload" }));
    const xhr = await sent();
    expect((xhr.body as FormData).get("max_record_bytes")).toBe(String(256 * 1024 * 1024));
    expect(readRecordLimit("0.0001").error).not.toBeNull();  // under the server's 1,024 bytes
    expect(readRecordLimit("4096").error).not.toBeNull();  // over its 2**31
  });
});

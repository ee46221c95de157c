import { parsePositiveInt, sameRequest } from "./int-field";

describe("number fields", () => {
  it("test_digit_separators_are_read_as_one_number", () => {
    expect(parsePositiveInt("2,048")).toEqual({ value: 2048, error: null });
    expect(parsePositiveInt("1,000")).toEqual({ value: 1000, error: null });
    expect(parsePositiveInt("1_000_000")).toEqual({ value: 1_000_000, error: null });
    expect(parsePositiveInt(" 10 000 ")).toEqual({ value: 10000, error: null });
    expect(parsePositiveInt("16")).toEqual({ value: 16, error: null });
  });

  it("test_empty_means_default_and_anything_invalid_is_an_error", () => {
    expect(parsePositiveInt("")).toEqual({ value: null, error: null });
    expect(parsePositiveInt("  ")).toEqual({ value: null, error: null });
    for (const bad of ["0", "000", "-5", "abc", "1.5", "2e3", "12abc", ",100", "100,", "1,,000"]) {
      const field = parsePositiveInt(bad);
      expect(field.value, bad).toBeNull();
      expect(field.error, bad).toBeTruthy();
    }
    expect(parsePositiveInt("99999999999999999999").error).toBeTruthy();
  });

  it("test_same_request_ignores_key_order_only", () => {
    expect(sameRequest({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toBe(true);
    expect(sameRequest({ a: 1, b: [1, 2] }, { a: 1, b: [2, 1] })).toBe(false);
    expect(sameRequest({ a: 1, b: null }, { a: 1, b: 5 })).toBe(false);
  });
});

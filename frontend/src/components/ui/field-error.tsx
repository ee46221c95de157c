/**
 * The message shown beside a number field that cannot be read (nothing when it can), tied to the
 * field by `aria-describedby={id}`. Not responsible for reading the field (the extractions
 * feature's `lib/int-field.ts`, the tokenization form's max length).
 */
export function FieldError({ id, label, error }: { id: string; label: string; error: string | null }) {
  if (!error) return null;
  return <span id={id} className="field-error" role="alert">{label} {error}</span>;
}

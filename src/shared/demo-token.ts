// A one-click sign-in of the embedded demo: signed by src/demo/tokens.ts,
// offered at GET /demo/tokens, shown by the page as a button.
export interface DemoToken {
  /** The button's title: the admin kind ("Tenant admin"). */
  label: string;
  /** Who signs in, and what they see. */
  description: string;
  token: string;
}

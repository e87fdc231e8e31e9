/** The .proto files are bundled as text (rolldown moduleTypes: { '.proto': 'text' }). */
declare module '*.proto' {
  const text: string;
  export default text;
}

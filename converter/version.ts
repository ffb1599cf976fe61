/**
 * Version of the converter's output. The model build step records it with each converted
 * model and converts again when it differs, so bump it whenever a change to `converter/`
 * changes the ONNX bytes produced for the same model.json and options.
 *
 * This file imports nothing, so that the build step can read the version without loading the
 * converter (which is build-time code and stays out of the Lambda bundles).
 */
export const CONVERTER_VERSION = '1';

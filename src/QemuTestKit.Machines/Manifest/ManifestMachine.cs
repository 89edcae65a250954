using System.Text.Json.Serialization;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Manifest;

/// <summary>One machine of <see cref="MachinesManifest"/>: a <c>QemuMachine</c> item as the build checked it.</summary>
/// <param name="Name">The item's name: what a test asks for, unique in the project.</param>
/// <param name="QemuBinary">
/// The binary's resolved absolute path, or the name as declared when the build could not resolve it: which QEMU the
/// build checked <paramref name="Spec"/> against.
/// </param>
/// <param name="QemuVersion">The binary's version from its catalog; null when the build did not ask QEMU (validation and preparation off).</param>
/// <param name="Prepare">The item's <c>Prepare</c>: the machine boots once to a ready state that every test starts from.</param>
/// <param name="StateDirectory">
/// Where the build saves the ready state; null when the build prepares none (no <c>Prepare</c>, or a machine hosted
/// elsewhere), so that the fixtures make one for the run. The state may be missing or stale (a build with preparation
/// off): a reader checks it before use.
/// </param>
/// <param name="SpecHash">
/// <c>ReadyState.HashOf(Spec)</c>: the hash a ready state must carry to belong to this spec. Null only in manifests
/// not written by the build.
/// </param>
/// <param name="Host">Where the tests run QEMU (<see cref="Runtime.MachineHosts"/>); <c>local</c> when a manifest does not say.</param>
/// <param name="Image">The container image of a <c>container</c> machine; null for <c>local</c>.</param>
/// <param name="Record">The item's <c>Record</c> metadata; null when it has none, so that its tests follow the run's choice.</param>
/// <param name="Spec">
/// The validated spec with absolute paths, as <see cref="MachineSpecJson"/> writes it: what the tests start, and what
/// a ready state is checked against.
/// </param>
public sealed record ManifestMachine(
    string Name,
    string QemuBinary,
    string? QemuVersion,
    bool Prepare,
    string? StateDirectory,
    string? SpecHash,
    string Host,
    string? Image,
    bool? Record,
    [property: JsonConverter(typeof(ManifestSpecConverter))] MachineSpec Spec);

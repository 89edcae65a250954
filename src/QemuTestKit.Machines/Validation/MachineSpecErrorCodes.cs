namespace QemuTestKit.Machines.Validation;

/// <summary>A code the validator can emit, with its title as in docs/errors.md.</summary>
public sealed record MachineSpecErrorCode(string Code, string Title, MachineSpecSeverity Severity);

/// <summary>
/// The stable codes of machine spec problems. QTK1xxx: a spec checked against the emulator (this validator).
/// QTK2xxx is reserved for the MSBuild layer (malformed item metadata, duplicate machine names, undeclared machine
/// references). A code, once published, keeps its meaning; retired codes are not reused.
/// </summary>
public static class MachineSpecErrorCodes
{
    public const string InvalidName = "QTK1001";
    public const string UnknownMachineType = "QTK1002";
    public const string DeprecatedMachineType = "QTK1003";
    public const string UnknownCpuModel = "QTK1004";
    public const string MemoryOutOfRange = "QTK1005";
    public const string CpuCountOutOfRange = "QTK1006";
    public const string AcceleratorNotCompiledIn = "QTK1007";
    public const string KvmNotUsable = "QTK1008";
    public const string RecordingNeedsTcg = "QTK1009";
    public const string FileNotFound = "QTK1010";
    public const string NeedsKernel = "QTK1011";
    public const string UnsupportedDiskFormat = "QTK1012";
    public const string UnknownDeviceType = "QTK1013";
    public const string NotAStorageDevice = "QTK1014";
    public const string NotANetworkDevice = "QTK1015";
    public const string InvalidHostForward = "QTK1016";
    public const string DuplicateHostPort = "QTK1017";
    public const string DuplicateId = "QTK1018";
    public const string InvalidId = "QTK1019";
    public const string UnavailableDeviceType = "QTK1020";
    public const string UnknownDeviceProperty = "QTK1021";
    public const string BusNotOnMachine = "QTK1022";
    public const string InvalidReadyPattern = "QTK1023";
    public const string ReadyTimeoutOutOfRange = "QTK1024";
    public const string SerialConsolesOutOfRange = "QTK1025";
    public const string MalformedDeviceArgument = "QTK1026";
    public const string DeprecatedCpuModel = "QTK1027";
    public const string DoesNotReplay = "QTK1028";
    public const string ArchitectureMismatch = "QTK1029";
    public const string CpuModelsUnknown = "QTK1030";

    // Device property values, judged against the property's type in the catalog.
    public const string PropertyValueNotOfType = "QTK1040";
    public const string PropertyValueOutOfRange = "QTK1041";
    public const string PropertyValueNotInEnum = "QTK1042";
    public const string LinkToUnknownId = "QTK1043";

    // QTK1050-QTK1059: buses, judged by the machine's real device tree.
    public const string NoRoomOnBus = "QTK1050";

    /// <summary>Every code the validator can emit.</summary>
    public static IReadOnlyList<MachineSpecErrorCode> All { get; } =
    [
        new(InvalidName, "Invalid machine name", MachineSpecSeverity.Error),
        new(UnknownMachineType, "Unknown machine type", MachineSpecSeverity.Error),
        new(DeprecatedMachineType, "Deprecated machine type", MachineSpecSeverity.Warning),
        new(UnknownCpuModel, "Unknown CPU model", MachineSpecSeverity.Error),
        new(MemoryOutOfRange, "Memory size out of range", MachineSpecSeverity.Error),
        new(CpuCountOutOfRange, "CPU count out of range", MachineSpecSeverity.Error),
        new(AcceleratorNotCompiledIn, "Accelerator not compiled in", MachineSpecSeverity.Error),
        new(KvmNotUsable, "KVM not usable on this host", MachineSpecSeverity.Error),
        new(RecordingNeedsTcg, "Recording needs TCG", MachineSpecSeverity.Error),
        new(FileNotFound, "File not found", MachineSpecSeverity.Error),
        new(NeedsKernel, "Option needs a kernel", MachineSpecSeverity.Error),
        new(UnsupportedDiskFormat, "Unsupported disk format", MachineSpecSeverity.Error),
        new(UnknownDeviceType, "Unknown device type", MachineSpecSeverity.Error),
        new(NotAStorageDevice, "Disk interface is not a storage device", MachineSpecSeverity.Error),
        new(NotANetworkDevice, "NIC model is not a network device", MachineSpecSeverity.Error),
        new(InvalidHostForward, "Invalid host forward", MachineSpecSeverity.Error),
        new(DuplicateHostPort, "Host port forwarded twice", MachineSpecSeverity.Error),
        new(DuplicateId, "Duplicate id", MachineSpecSeverity.Error),
        new(InvalidId, "Invalid id", MachineSpecSeverity.Error),
        new(UnavailableDeviceType, "Device type unavailable in this binary", MachineSpecSeverity.Error),
        new(UnknownDeviceProperty, "Unknown device property", MachineSpecSeverity.Error),
        new(BusNotOnMachine, "Device on a bus the machine does not have", MachineSpecSeverity.Error),
        new(InvalidReadyPattern, "Invalid ready pattern", MachineSpecSeverity.Error),
        new(ReadyTimeoutOutOfRange, "Ready timeout out of range", MachineSpecSeverity.Error),
        new(SerialConsolesOutOfRange, "Serial console count out of range", MachineSpecSeverity.Error),
        new(MalformedDeviceArgument, "Malformed -device argument", MachineSpecSeverity.Error),
        new(DeprecatedCpuModel, "Deprecated CPU model", MachineSpecSeverity.Warning),
        new(DoesNotReplay, "Machine or device this QEMU cannot replay", MachineSpecSeverity.Warning),
        new(ArchitectureMismatch, "Architecture is not the binary's target", MachineSpecSeverity.Error),
        new(CpuModelsUnknown, "CPU model not checked", MachineSpecSeverity.Warning),

        new(PropertyValueNotOfType, "Device property value not of its type", MachineSpecSeverity.Error),
        new(PropertyValueOutOfRange, "Device property value out of range", MachineSpecSeverity.Error),
        new(PropertyValueNotInEnum, "Device property value not one of its values", MachineSpecSeverity.Error),
        new(LinkToUnknownId, "Link to an id the spec does not declare", MachineSpecSeverity.Error),
        new(NoRoomOnBus, "No room left on the machine's buses", MachineSpecSeverity.Error),
    ];

    public static MachineSpecErrorCode Find(string code) =>
        All.FirstOrDefault(c => c.Code == code) ?? throw new ArgumentException($"unknown machine spec error code '{code}'", nameof(code));
}

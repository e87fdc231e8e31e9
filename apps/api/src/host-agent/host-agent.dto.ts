import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsInt, IsString, IsUUID, MaxLength, Min, ValidateNested } from 'class-validator';

export class UsageEntryDto {
  /** The endpoint's id, as in the host document. */
  @IsUUID()
  endpoint!: string;

  /** -1 for the gateway's default IPs, else the rule's ruleNumber. */
  @IsInt()
  @Min(-1)
  ruleNumber!: number;

  /** Distinct NAT ports in use now (from conntrack). */
  @IsInt()
  @Min(0)
  portsInUse!: number;
}

/** What an agent reports every few seconds and after each apply. */
export class HostReportDto {
  /** The generation of the document the host's data plane holds now. */
  @IsInt()
  @Min(0)
  appliedGeneration!: number;

  @IsArray()
  @ArrayMaxSize(200000)
  @ValidateNested({ each: true })
  @Type(() => UsageEntryDto)
  usage!: UsageEntryDto[];

  /** Errors of the last apply; empty when it succeeded. */
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(2000, { each: true })
  errors!: string[];
}

export class HostReportAckDto {
  /** The generation the control plane wants applied (pull the document when it is newer). */
  desiredGeneration!: number;
}
